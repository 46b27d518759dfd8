#!/usr/bin/env python3
"""Tables delta-spark 4.0 writes with the features users meet, and their rows as Spark reads them.

  delta_features.py OUT_DIR

writes under OUT_DIR, with PySpark + delta-spark (the jars scripts/setup-test.sh put in .cache/ivy):
  types          every primitive type, with nulls, empty strings and empty binary, and TIMESTAMP_NTZ
  partitions     partition values that need escaping in the path (/ % space = unicode) and null
  dv             deletion vectors on: DELETE, UPDATE, DELETE again (each writes deletion vectors), a
                 checkpoint every 2 versions (deletion vectors in checkpoint rows)
  colmap_name    column mapping by name: a column renamed, one dropped, rows appended after each; a
                 checkpoint every 3 versions
  colmap_id      the same with column mapping by id
  nested         struct, array and map columns, nested in each other, with nulls and empties
  check          a CHECK constraint (a writer feature only)
and prints to stdout one JSON document: {"tables": [{"name", "path", "protocol", "versions": [{"version",
"rows": [...]}]}]}, the rows of every version as Spark reads them (versionAsOf), values canonical:
timestamps and dates as integer microseconds since the epoch (UTC; TIMESTAMP_NTZ as if UTC), binary as
{"b64": base64}, decimals as strings, structs as objects, maps as objects with string keys.
lake's TestSparkFeatures compares our reader with it.
"""
import base64
import datetime
import decimal
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# PySpark turns TIMESTAMP values into naive local-time datetimes: make local time UTC, as the canonical form assumes.
os.environ["TZ"] = "UTC"
time.tzset()
from delta_compat import answer, spark_session  # noqa: E402  (stdout is kept for the answer)

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def canon(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (bytes, bytearray)):
        return {"b64": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:  # TIMESTAMP_NTZ: wall-clock time, rendered as if UTC
            v = v.replace(tzinfo=datetime.timezone.utc)
        d = v - EPOCH
        return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds
    if isinstance(v, datetime.date):
        return (v - datetime.date(1970, 1, 1)).days * 86400 * 1_000_000
    if isinstance(v, decimal.Decimal):
        return str(v)
    if hasattr(v, "asDict"):  # a struct
        return {k: canon(x) for k, x in v.asDict(recursive=False).items()}
    if isinstance(v, dict):
        return {str(k): canon(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [canon(x) for x in v]
    raise TypeError(f"no canonical form for {type(v)}: {v!r}")


def versions(spark, path):
    from delta.tables import DeltaTable
    latest = DeltaTable.forPath(spark, path).history(1).collect()[0]["version"]
    out = []
    for v in range(latest + 1):
        df = spark.read.format("delta").option("versionAsOf", v).load(path)
        out.append({"version": v, "rows": [{k: canon(x) for k, x in r.asDict(recursive=False).items()} for r in df.collect()]})
    return out


def protocol(spark, path):
    d = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0].asDict()
    return {"minReaderVersion": d["minReaderVersion"], "minWriterVersion": d["minWriterVersion"],
            "tableFeatures": sorted(d.get("tableFeatures") or [])}


def write_all(spark, out):
    sql = spark.sql
    made = {}

    p = made["types"] = f"{out}/types"
    sql(f"""CREATE TABLE delta.`{p}` (s STRING, b BINARY, by BYTE, sh SHORT, i INT, l LONG, f FLOAT, d DOUBLE,
            bo BOOLEAN, dt DATE, ts TIMESTAMP, ntz TIMESTAMP_NTZ, dec DECIMAL(10,2)) USING delta""")
    sql(f"""INSERT INTO delta.`{p}` VALUES
        ('plain', X'00FF10', 1, 2, 3, 4, 1.5, 2.25, true, DATE'2009-04-06', TIMESTAMP'2009-04-06 22:19:45+00:00',
         TIMESTAMP_NTZ'2009-04-06 22:19:45.123456', 12.30),
        ('', X'', -128, -32768, -2147483648, -9007199254740991, -0.0, 1e300, false, DATE'1969-12-31',
         TIMESTAMP'1969-12-31 23:59:59.999999+00:00', TIMESTAMP_NTZ'1900-01-01 00:00:00', -0.01),
        (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        ('São Paulo ✓ 🙂', X'', 127, 32767, 2147483647, 9007199254740991, 3.4e38, -2.5e-300, true,
         DATE'2262-04-11', TIMESTAMP'2262-04-11 23:47:16+00:00', TIMESTAMP_NTZ'2099-12-31 23:59:59.999999', 99999999.99)""")

    p = made["partitions"] = f"{out}/partitions"
    sql(f"CREATE TABLE delta.`{p}` (id INT, city STRING, day DATE) USING delta PARTITIONED BY (city, day)")
    sql(f"""INSERT INTO delta.`{p}` VALUES (1, 'a/b', DATE'2009-04-06'), (2, '50%', DATE'2009-04-07'),
        (3, 'São Paulo', DATE'2009-04-06'), (4, 'x=y', NULL), (5, ' lead and trail ', DATE'2009-04-06'),
        (6, NULL, DATE'2009-04-06'), (7, 'plain', DATE'2009-04-08'), (8, 'a%2Fb', DATE'2009-04-06'),
        (9, '', DATE'2009-04-06'), (10, 'q?#&+:', DATE'2009-04-06')""")
    sql(f"INSERT INTO delta.`{p}` VALUES (11, 'a/b', DATE'2009-04-06'), (12, NULL, NULL)")

    p = made["dv"] = f"{out}/dv"
    sql(f"CREATE TABLE delta.`{p}` (id INT, v STRING) USING delta TBLPROPERTIES ('delta.enableDeletionVectors' = 'true', 'delta.checkpointInterval' = '2')")
    spark.range(0, 300).selectExpr("CAST(id AS INT) AS id", "CONCAT('v', id) AS v").repartition(3) \
        .write.format("delta").mode("append").save(p)
    sql(f"DELETE FROM delta.`{p}` WHERE id % 7 = 0")
    sql(f"UPDATE delta.`{p}` SET v = 'updated' WHERE id % 5 = 0")
    sql(f"DELETE FROM delta.`{p}` WHERE id < 40 OR id = 299")
    sql(f"INSERT INTO delta.`{p}` VALUES (1000, 'after')")

    for mode in ("name", "id"):
        p = made[f"colmap_{mode}"] = f"{out}/colmap_{mode}"
        sql(f"""CREATE TABLE delta.`{p}` (a INT, b STRING, c STRING) USING delta
                TBLPROPERTIES ('delta.columnMapping.mode' = '{mode}', 'delta.minReaderVersion' = '2', 'delta.minWriterVersion' = '5',
                               'delta.checkpointInterval' = '3')""")
        sql(f"INSERT INTO delta.`{p}` VALUES (1, 'one', 'c1'), (2, 'two', NULL)")
        sql(f"ALTER TABLE delta.`{p}` RENAME COLUMN b TO b_renamed")
        sql(f"INSERT INTO delta.`{p}` VALUES (3, 'three', 'c3')")
        sql(f"ALTER TABLE delta.`{p}` DROP COLUMN c")
        sql(f"INSERT INTO delta.`{p}` VALUES (4, 'four')")
        sql(f"ALTER TABLE delta.`{p}` ADD COLUMNS (c STRING)")  # a new column named as the dropped one
        sql(f"INSERT INTO delta.`{p}` VALUES (5, 'five', 'new c')")

    p = made["nested"] = f"{out}/nested"
    sql(f"""CREATE TABLE delta.`{p}` (id INT,
            user STRUCT<name: STRING, followers: INT, place: STRUCT<city: STRING, country: STRING>>,
            tags ARRAY<STRING>, counts MAP<STRING, INT>, pairs ARRAY<STRUCT<k: STRING, v: INT>>,
            deep MAP<STRING, ARRAY<INT>>) USING delta""")
    sql(f"""INSERT INTO delta.`{p}` VALUES
        (1, named_struct('name', 'ann', 'followers', 10, 'place', named_struct('city', 'Lyon', 'country', 'FR')),
            array('a', 'b'), map('x', 1, 'y', 2), array(named_struct('k', 'p', 'v', 1)), map('m', array(1, 2))),
        (2, named_struct('name', NULL, 'followers', NULL, 'place', NULL), array(), map(), array(), map('e', array())),
        (3, NULL, NULL, NULL, NULL, NULL),
        (4, named_struct('name', 'bo', 'followers', 0, 'place', named_struct('city', NULL, 'country', 'US')),
            array(NULL, 'c'), map('z', NULL), array(NULL, named_struct('k', NULL, 'v', NULL)), map('n', NULL))""")

    p = made["check"] = f"{out}/check"
    sql(f"CREATE TABLE delta.`{p}` (id INT, v STRING) USING delta")
    sql(f"ALTER TABLE delta.`{p}` ADD CONSTRAINT positive CHECK (id > 0)")
    sql(f"INSERT INTO delta.`{p}` VALUES (1, 'a'), (2, NULL)")
    return made


def main():
    out = os.path.abspath(sys.argv[1])
    spark = spark_session()
    made = write_all(spark, out)
    answer({"tables": [{"name": n, "path": p, "protocol": protocol(spark, p), "versions": versions(spark, p)}
                       for n, p in made.items()]})


if __name__ == "__main__":
    main()
