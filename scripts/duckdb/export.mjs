// Prints chosen columns of a Delta table as CSV, read with DuckDB after
// replaying _delta_log itself (see check.mjs). Used to hand gold to
// scikit-learn without going through our own reader.
// Usage: node scripts/duckdb/export.mjs TABLE_DIR COLUMN [COLUMN...]
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";

const [dir, ...cols] = process.argv.slice(2);
if (!dir || cols.length === 0) {
  console.error("usage: node export.mjs TABLE_DIR COLUMN [COLUMN...]");
  process.exit(2);
}
const logDir = join(dir, "_delta_log");
const active = new Map();
for (const name of readdirSync(logDir).filter((n) => /^\d{20}\.json$/.test(n)).sort()) {
  for (const line of readFileSync(join(logDir, name), "utf8").split("\n")) {
    if (!line.trim()) continue;
    const a = JSON.parse(line);
    if (a.add) active.set(decodeURIComponent(a.add.path), true);
    if (a.remove) active.delete(decodeURIComponent(a.remove.path));
  }
}
const files = [...active.keys()].map((p) => `'${join(dir, p).replaceAll("'", "''")}'`);
const con = await (await DuckDBInstance.create(":memory:")).connect();
const rows = await (await con.run(
  `SELECT ${cols.map((c) => `"${c}"`).join(", ")} FROM read_parquet([${files.join(",")}], union_by_name=true)`)).getRows();
const esc = (v) => (v === null ? "" : /[",\n]/.test(String(v)) ? `"${String(v).replaceAll('"', '""')}"` : String(v));
console.log(cols.join(","));
for (const r of rows) console.log(r.map(esc).join(","));
