#!/usr/bin/env python3
"""Spark (delta-spark) and delta-rs as oracles for the tables lake/ writes.

Modes:
  --warm                 start Spark once with delta-spark so Ivy fetches its jars from Maven Central
                         into .cache/ivy (set-up time; the only mode that may use the network), then
                         round-trip a tiny table through Spark and delta-rs.
  compare DUMP.json      read every table and version of DUMP (what our Go reader saw, written by
                         pipelines/compat_test.go) with Spark (versionAsOf) and delta-rs
                         (DeltaTable(path, version=v)); compare rows (multisets), schema (name, type,
                         nullable) and txn versions (delta-spark's DeltaLog.getChanges; delta-rs's
                         transaction_version per app id); at each table's latest version also Spark's
                         count(*) (served from our numRecords stats) and equality filters on every
                         column's min and max (data skipping on our min/max stats); print a JSON
                         summary; exit 1 with a diff on mismatch.
  spark-writes TABLE     Spark appends rows with a new column (mergeSchema, with a txn of its own), runs
                         OPTIMIZE and writes a checkpoint; prints what it did as JSON.
  serve                  one Spark session for many commands: each stdin line is a JSON command
                         {"cmd": "compare", "dump": PATH} or {"cmd": "spark-writes", "table": PATH};
                         each answer is one JSON line on stdout ({"ok": false, "error": ...} on failure).

Set-up (once, with network to Maven Central): .cache/venv/bin/python scripts/oracles/delta_compat.py --warm
Everything Spark and the JVM print goes to stderr; stdout carries only the JSON answers.
Dump format: {"tables": [{"name", "path", "versions": [{"version", "schema": [{"name", "type",
"nullable"}], "txn": {appId: version}, "rows": [{column: value}]}]}]}, values as JSON with timestamps
as integer microseconds since the epoch (UTC) and nulls as null.
"""
import argparse
import collections
import glob
import json
import math
import os
import sys
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local[2] only: no need to look up the host's address
IVY = os.environ.get("DELTA_COMPAT_IVY", os.path.join(ROOT, ".cache", "ivy"))

# stdout is for answers only: keep a private copy of it and point fd 1 at stderr before the
# JVM starts, so nothing Spark, Ivy or py4j prints can land among the answers.
_answers = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr


def answer(obj):
    _answers.write(json.dumps(obj, sort_keys=True) + "\n")
    _answers.flush()


class Mismatch(Exception):
    pass


def delta_jars_present():
    return sorted(glob.glob(os.path.join(IVY, "jars", "io.delta_delta-spark_2.13-*.jar")))


def spark_session(warm=False, packages=()):
    """One local Spark session with delta-spark (and more Maven packages), jars resolved by Ivy in .cache/ivy."""
    if not warm and not delta_jars_present():
        raise SystemExit(
            f"delta_compat: delta-spark jars are not in the Ivy cache {IVY}/jars; warm it at set-up time "
            f"(network to Maven Central needed once): .cache/venv/bin/python scripts/oracles/delta_compat.py --warm")
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    tmp = os.environ.get("TMPDIR", "/tmp")
    os.environ.setdefault("SPARK_LOCAL_DIRS", tmp)
    builder = (SparkSession.builder.master("local[2]").appName("delta-compat")
               .config("spark.jars.ivy", IVY)
               .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
               .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.default.parallelism", "2")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               # small tables, many versions: fewer, cheaper jobs per snapshot
               .config("spark.databricks.delta.snapshotPartitions", "1")
               .config("spark.databricks.delta.stateReconstructionValidation.enabled", "false")
               .config("spark.sql.adaptive.enabled", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", "1g")
               # scratch space under TMPDIR (the Go test points it at its t.TempDir())
               .config("spark.sql.warehouse.dir", os.path.join(tmp, "spark-warehouse"))
               .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={tmp} -Dderby.system.home={tmp} -XX:-UsePerfData"))
    spark = configure_spark_with_delta_pip(builder, extra_packages=list(packages)).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# --- canonical values -----------------------------------------------------------------------

def canon_value(v):
    """A value as both sides can render it identically."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Inf" if v > 0 else "-Inf"
        return v
    if isinstance(v, (int, str)):
        return v
    if isinstance(v, dict) and "$float" in v:  # our dump's NaN/Inf
        return {"NaN": "NaN", "+Inf": "Inf", "-Inf": "-Inf"}[v["$float"]]
    raise TypeError(f"unexpected value {v!r} ({type(v).__name__})")


def row_key(columns, row):
    return json.dumps([canon_value(row.get(c)) for c in columns], sort_keys=True, ensure_ascii=False)


def multiset_diff(label, ours, theirs, limit=5):
    a, b = collections.Counter(ours), collections.Counter(theirs)
    if a == b:
        return None
    only_ours, only_theirs = list((a - b).elements()), list((b - a).elements())
    msg = [f"{label}: rows differ: ours {len(ours)}, theirs {len(theirs)}; "
           f"{len(only_ours)} only in ours, {len(only_theirs)} only in theirs"]
    msg += ["  ours only:   " + r for r in only_ours[:limit]]
    msg += ["  theirs only: " + r for r in only_theirs[:limit]]
    return "\n".join(msg)


# --- Spark --------------------------------------------------------------------------------

def spark_type(dt):
    return dt.typeName()  # string, long, integer, double, timestamp, boolean, ...


def spark_versions(spark, path, versions):
    """One DataFrame per version (spark.read ... versionAsOf), with its schema."""
    out = {}
    for v in versions:
        df = spark.read.format("delta").option("versionAsOf", v).load(path)
        out[v] = (df, [{"name": f.name, "type": spark_type(f.dataType), "nullable": f.nullable} for f in df.schema.fields])
    return out


def as_json_rows(df, table, version):
    """The rows as JSON text (timestamps as UTC microseconds, nulls kept), tagged with table and version,
    so every version of every table comes back in a single Spark job."""
    from pyspark.sql import functions as F
    cols = [F.unix_micros(F.col(f.name)).alias(f.name) if f.dataType.typeName() == "timestamp" else F.col(f.name)
            for f in df.schema.fields]
    return df.select(F.lit(table).alias("t"), F.lit(version).cast("long").alias("v"),
                     F.to_json(F.struct(*cols), {"ignoreNullFields": "false"}).alias("j"))


def spark_delta_log(spark, path):
    jvm = spark._jvm
    return jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)


def spark_log_facts(spark, path, upto):
    """Per version, the txn versions, protocol and metadata schema, folded from the actions delta-spark's
    DeltaLog.getChanges reads and parses (each action rendered back with delta-spark's own Action.json)."""
    changes = spark_delta_log(spark, path).getChanges(0, False)
    txns, schema, proto, out = {}, None, None, {}
    while changes.hasNext():
        pair = changes.next()
        v = pair._1()
        if v > upto:
            break
        it = pair._2().iterator()
        while it.hasNext():
            line = it.next().json()
            if line.startswith('{"commitInfo"'):
                continue  # provenance (and delta-spark renders operationParameters as raw JSON, not strings)
            a = json.loads(line)
            if "txn" in a:
                txns[a["txn"]["appId"]] = a["txn"]["version"]
            elif "metaData" in a:
                schema = [{"name": f["name"], "type": f["type"], "nullable": f["nullable"]}
                          for f in json.loads(a["metaData"]["schemaString"])["fields"]]
            elif "protocol" in a:
                proto = [a["protocol"]["minReaderVersion"], a["protocol"]["minWriterVersion"]]
        out[v] = {"txn": dict(txns), "schema": schema, "protocol": proto}
    return out


# --- delta-rs ----------------------------------------------------------------------------

def deltars_read(path, version, our_txn):
    import pyarrow as pa
    from deltalake import DeltaTable
    dt = DeltaTable(path, version=version)
    if dt.version() != version:
        raise Mismatch(f"delta-rs opened version {dt.version()} of {path}, asked for {version}")
    fields = []
    for f in dt.schema().fields:
        t = f.type
        fields.append({"name": f.name, "type": getattr(t, "type", str(t)), "nullable": f.nullable})
    tbl = pa.table(dt.to_pyarrow_table())
    cols = {}
    for name in tbl.column_names:
        col = tbl.column(name)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        cols[name] = col.to_pylist()
    n = tbl.num_rows
    rows = [{name: cols[name][i] for name in tbl.column_names} for i in range(n)]
    # delta-rs answers per application id (it has no listing of them): ask for ours and Spark's.
    txns = {app: dt.transaction_version(app) for app in set(our_txn) | {SPARK_APP_ID}}
    return fields, rows, {k: x for k, x in txns.items() if x is not None}


# --- compare ------------------------------------------------------------------------------

def compare(spark, dump_path):
    from functools import reduce
    with open(dump_path) as f:
        dump = json.load(f)
    problems = []
    summary = {"tables": {}, "versions_checked": 0, "rows_compared": 0,
               "engines": {"spark": spark.version, "delta_spark": delta_version(), "deltalake": deltalake_version()}}
    frames, count_queries, plan = [], [], []
    t0 = time.time()
    for t in dump["tables"]:
        name, path = t["name"], t["path"]
        versions = [ve["version"] for ve in t["versions"]]
        hist = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select("version", "operation").collect()
        if max(r["version"] for r in hist) != max(versions):
            problems.append(f"{name}: Spark's history ends at version {max(r['version'] for r in hist)}, our dump at {max(versions)}")
        facts = spark_log_facts(spark, path, max(versions))
        dfs = spark_versions(spark, path, versions)
        tsum = {"versions": versions, "rows": {}, "txn": {}, "protocol": {},
                "spark_operations": {str(r["version"]): r["operation"] for r in hist if r["version"] in versions}}
        for ve in t["versions"]:
            v, label = ve["version"], f"{name}@v{ve['version']}"
            ours_schema = [{"name": c["name"], "type": c["type"], "nullable": c["nullable"]} for c in ve["schema"]]
            ours_txn = ve.get("txn") or {}
            df, s_fields = dfs[v]
            f = facts.get(v)
            if f is None:
                problems.append(f"{label}: delta-spark's log has no version {v}")
                continue
            if f["schema"] != ours_schema:
                problems.append(f"{label}: schema differs from delta-spark's log\n  ours:  {ours_schema}\n  spark: {f['schema']}")
            if [(x["name"], x["type"]) for x in s_fields] != [(c["name"], c["type"]) for c in ours_schema]:
                problems.append(f"{label}: Spark DataFrame columns/types differ\n  ours:  {ours_schema}\n  spark: {s_fields}")
            if f["txn"] != ours_txn:
                problems.append(f"{label}: txn versions differ: ours {ours_txn}, delta-spark {f['txn']}")
            tsum["txn"][str(v)], tsum["protocol"][str(v)] = f["txn"], f["protocol"]
            frames.append(as_json_rows(df, name, v))
            if v == versions[-1]:
                # count(*) alone is answered from the add actions' numRecords stats (latest version only:
                # each version costs Spark a state reconstruction).
                count_queries.append(f"SELECT '{name}' AS t, CAST({v} AS BIGINT) AS v, count(*) AS n FROM delta.`{path}` VERSION AS OF {v}")
            plan.append((name, path, ve, ours_schema, ours_txn))
        summary["tables"][name] = tsum
    timings = {"spark_plan": round(time.time() - t0, 1)}
    # Spark: every row of every version in one job.
    t0 = time.time()
    spark_rows = collections.defaultdict(list)
    if frames:
        for r in reduce(lambda a, b: a.union(b), frames).collect():
            spark_rows[(r["t"], r["v"])].append(json.loads(r["j"]))
    timings["spark_collect"] = round(time.time() - t0, 1)
    spark_counts = {(r["t"], r["v"]): r["n"] for r in spark.sql(" UNION ALL ".join(count_queries)).collect()} if count_queries else {}
    timings["spark_rows"] = round(time.time() - t0, 1)
    summary["spark_counts_checked"] = len(spark_counts)
    t0 = time.time()
    for name, path, ve, ours_schema, ours_txn in plan:
        v, label = ve["version"], f"{name}@v{ve['version']}"
        columns = [c["name"] for c in ours_schema]
        ours_rows = [row_key(columns, r) for r in ve["rows"]]
        d = multiset_diff(label + " (Spark)", ours_rows, [row_key(columns, r) for r in spark_rows[(name, v)]])
        if d:
            problems.append(d)
        if (name, v) in spark_counts and spark_counts[(name, v)] != len(ours_rows):
            problems.append(f"{label}: Spark count(*) (from stats) = {spark_counts.get((name, v))}, ours {len(ours_rows)} rows")
        r_fields, r_rows, r_txn = deltars_read(path, v, ours_txn)
        if r_fields != ours_schema:
            problems.append(f"{label}: delta-rs schema differs\n  ours:    {ours_schema}\n  deltars: {r_fields}")
        if r_txn != ours_txn:
            problems.append(f"{label}: txn versions differ: ours {ours_txn}, delta-rs {r_txn}")
        d = multiset_diff(label + " (delta-rs)", ours_rows, [row_key(columns, r) for r in r_rows])
        if d:
            problems.append(d)
        summary["versions_checked"] += 1
        summary["rows_compared"] += len(ours_rows)
        summary["tables"][name]["rows"][str(v)] = len(ours_rows)
    timings["deltars"] = round(time.time() - t0, 1)
    t0 = time.time()
    problems += data_skipping(spark, [(t["name"], t["path"], t["versions"][-1]) for t in dump["tables"]])
    timings["data_skipping"] = round(time.time() - t0, 1)
    summary["timings"] = timings
    summary["checkpoints"] = {t["name"]: sorted(os.path.basename(p) for p in glob.glob(os.path.join(t["path"], "_delta_log", "*.checkpoint*.parquet")))
                              for t in dump["tables"]}
    summary["problems"] = problems
    summary["ok"] = not problems
    return summary


def data_skipping(spark, latest):
    """Equality filters on each column's smallest and largest value at each table's latest version: Spark
    prunes files with our min/max stats, so a wrong bound loses rows here. One job for all of them."""
    from functools import reduce
    from pyspark.sql import functions as F
    frames, want = [], {}
    for name, path, ve in latest:
        v = ve["version"]
        df = spark.read.format("delta").option("versionAsOf", v).load(path)
        for f in df.schema.fields:
            c = {"name": f.name, "type": spark_type(f.dataType)}
            vals = [r.get(c["name"]) for r in ve["rows"] if r.get(c["name"]) is not None]
            if not vals or c["type"] not in ("string", "long", "integer", "timestamp", "double"):
                continue
            if c["type"] == "timestamp" and not all(isinstance(x, int) for x in vals):
                continue  # the schema comparison reports it
            for target in sorted({min(vals), max(vals)}):
                key = f"{name}@v{v}: {c['name']} = {target!r}"
                want[key] = sum(1 for x in vals if x == target)
                lit = F.timestamp_micros(F.lit(target)) if c["type"] == "timestamp" else F.lit(target)
                frames.append(df.filter(F.col(c["name"]) == lit).groupBy().count().select(F.lit(key).alias("k"), "count"))
    if not frames:
        return []
    got = {r["k"]: r["count"] for r in reduce(lambda a, b: a.union(b), frames).collect()}
    return [f"{k}: Spark finds {got.get(k)} rows, ours {n} (file stats wrong?)" for k, n in want.items() if got.get(k) != n]


def delta_version():
    from importlib.metadata import version
    return version("delta-spark")


def deltalake_version():
    from importlib.metadata import version
    return version("deltalake")


# --- Spark writes to our table ------------------------------------------------------------

SPARK_APP_ID = "spark-compat"


def spark_writes(spark, path, rows=5, column="spark_note"):
    """Append rows carrying a new column (mergeSchema) with a txn of our own, OPTIMIZE, checkpoint."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F
    log = spark_delta_log(spark, path)
    start = log.update(False, spark._jvm.scala.Option.empty(), spark._jvm.scala.Option.empty()).version()
    base = spark.read.format("delta").load(path)
    if column in base.columns:
        raise SystemExit(f"delta_compat: {path} already has a column {column}")
    new = spark.range(rows).select(
        *[(F.concat(F.lit("spark-row-"), F.col("id").cast("string")) if f.name == "text" else
           F.lit("/spark/compat.json") if f.name == "source_file" else
           F.timestamp_micros(F.lit(1_700_000_000_000_000) + F.col("id")) if f.dataType.typeName() == "timestamp" else
           F.lit(None).cast(f.dataType)).alias(f.name)
          for f in base.schema.fields],
        F.concat(F.lit("note-"), F.col("id").cast("string")).alias(column))
    (new.write.format("delta").mode("append").option("mergeSchema", "true")
     .option("txnAppId", SPARK_APP_ID).option("txnVersion", 1).save(path))
    appended = log.update(False, spark._jvm.scala.Option.empty(), spark._jvm.scala.Option.empty()).version()
    files_before = log.unsafeVolatileSnapshot().numOfFiles()
    metrics = DeltaTable.forPath(spark, path).optimize().executeCompaction().collect()[0]["metrics"]
    optimized = log.update(False, spark._jvm.scala.Option.empty(), spark._jvm.scala.Option.empty()).version()
    files_after = log.unsafeVolatileSnapshot().numOfFiles()
    log.checkpoint()
    cps = sorted(os.path.basename(p) for p in glob.glob(os.path.join(path, "_delta_log", "*.checkpoint*.parquet")))
    with open(os.path.join(path, "_delta_log", "_last_checkpoint")) as f:
        last = json.load(f)
    return {"ok": True, "table": path, "start_version": start, "append_version": appended,
            "optimize_version": optimized, "appended_rows": rows, "new_column": column,
            "files_before_optimize": files_before, "files_after_optimize": files_after,
            "optimize_files_removed": metrics["numFilesRemoved"], "optimize_files_added": metrics["numFilesAdded"],
            "checkpoints": cps, "last_checkpoint": last, "spark_app_id": SPARK_APP_ID}


# --- warm ---------------------------------------------------------------------------------

def warm(spark):
    import shutil
    import tempfile
    from deltalake import DeltaTable
    d = tempfile.mkdtemp(prefix="delta-compat-warm-")
    try:
        p = os.path.join(d, "t")
        spark.range(3).write.format("delta").save(p)
        n = spark.read.format("delta").load(p).count()
        m = DeltaTable(p).to_pyarrow_table().num_rows
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if n != 3 or m != 3:
        raise SystemExit(f"delta_compat --warm: round trip read {n} (Spark) and {m} (delta-rs) rows, want 3")
    return {"ok": True, "ivy": IVY, "jars": [os.path.basename(j) for j in sorted(glob.glob(os.path.join(IVY, "jars", "*.jar")))]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warm", action="store_true")
    ap.add_argument("mode", nargs="?", choices=["compare", "spark-writes", "serve"])
    ap.add_argument("arg", nargs="?")
    a = ap.parse_args()
    t0 = time.time()
    if a.warm:
        spark = spark_session(warm=True)
        out = warm(spark)
        out["seconds"] = round(time.time() - t0, 1)
        answer(out)
        return 0
    if a.mode is None or (a.mode != "serve" and not a.arg):
        ap.error("give --warm, compare DUMP, spark-writes TABLE or serve")
    spark = spark_session()
    print(f"delta_compat: Spark {spark.version} up in {time.time() - t0:.1f}s", file=sys.stderr)
    if a.mode == "compare":
        s = compare(spark, a.arg)
        answer(s)
        if not s["ok"]:
            print("delta_compat: MISMATCH\n" + "\n".join(s["problems"]), file=sys.stderr)
            return 1
        return 0
    if a.mode == "spark-writes":
        answer(spark_writes(spark, a.arg))
        return 0
    for line in sys.stdin:
        if not line.strip():
            continue
        t1 = time.time()
        try:
            cmd = json.loads(line)
            if cmd["cmd"] == "quit":
                break
            if cmd["cmd"] == "compare":
                out = compare(spark, cmd["dump"])
            elif cmd["cmd"] == "spark-writes":
                out = spark_writes(spark, cmd["table"])
            else:
                raise ValueError(f"unknown command {cmd['cmd']!r}")
        except Exception as e:  # answer, so the caller can fail with the reason
            out = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        out["seconds"] = round(time.time() - t1, 1)
        answer(out)
    spark.stop()
    return 0


if __name__ == "__main__":
    code = main()
    # delta-rs's runtime threads can abort the interpreter's shutdown
    # ("terminate called without an active exception"): leave at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
