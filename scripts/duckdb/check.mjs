// Independent reader for a Delta table written by the lake package: replays
// _delta_log/*.json (add/remove) itself and reads the active parquet files
// with DuckDB. Prints JSON: {version, rows, columns: [{name, type}], nonNull}.
// Usage: node scripts/duckdb/check.mjs TABLE_DIR
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node check.mjs TABLE_DIR");
  process.exit(2);
}
const logDir = join(dir, "_delta_log");
const commits = readdirSync(logDir).filter((n) => /^\d{20}\.json$/.test(n)).sort();
const active = new Map();
commits.forEach((name, i) => {
  if (Number(name.slice(0, 20)) !== i) throw new Error(`version ${i} is missing`);
  for (const line of readFileSync(join(logDir, name), "utf8").split("\n")) {
    if (!line.trim()) continue;
    const a = JSON.parse(line);
    if (a.add) active.set(decodeURIComponent(a.add.path), true);
    if (a.remove) active.delete(decodeURIComponent(a.remove.path));
  }
});
const files = [...active.keys()].map((p) => join(dir, p).replaceAll("'", "''"));
const db = await DuckDBInstance.create(":memory:");
const con = await db.connect();
const out = { version: commits.length - 1, rows: 0, columns: [], nonNull: {} };
if (files.length > 0) {
  const src = `read_parquet([${files.map((f) => `'${f}'`).join(",")}], union_by_name=true)`;
  const desc = await (await con.run(`DESCRIBE SELECT * FROM ${src}`)).getRowObjects();
  out.columns = desc.map((r) => ({ name: r.column_name, type: r.column_type }));
  const counts = out.columns.map((c) => `count("${c.name}") AS "${c.name}"`).join(", ");
  const row = (await (await con.run(`SELECT count(*) AS __rows, ${counts} FROM ${src}`)).getRowObjects())[0];
  out.rows = Number(row.__rows);
  for (const c of out.columns) out.nonNull[c.name] = Number(row[c.name]);
}
console.log(JSON.stringify(out));
