#!/usr/bin/env python3
"""A tweet bronze as Spark keeps one from nested tweet JSON, made from one of ours.

  spark_bronze.py SRC_BRONZE DST_BRONZE

reads SRC_BRONZE (a bronze table the pipeline wrote) with delta-spark and writes DST_BRONZE as a
Databricks-style table: column mapping by name and deletion vectors on, `user` a struct
(screen_name, followers_count, verified), an `entities` struct (hashtags, user_mentions as an array
of structs, urls) and a `place` map; then a column rename and drop, as users do. (A stage reads
appends only: an UPDATE or DELETE on its upstream table is refused, as Spark's streaming source
refuses it; lake's TestSparkFeatures reads deletion vectors.) The tweets (date, text, sentiment,
source_file) are SRC's, so the silver, gold and application the pipeline makes from DST must
equal those it made from SRC (pipelines' TestSparkNestedBronze). Prints {"version": N} of DST.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_compat import answer, spark_session  # noqa: E402


def main():
    src, dst = (os.path.abspath(p) for p in sys.argv[1:3])
    spark = spark_session()
    spark.sql(f"""CREATE TABLE delta.`{dst}` (
        date STRING, user STRUCT<screen_name: STRING, followers_count: INT, verified: BOOLEAN>, text STRING,
        sentiment STRING, source_file STRING, processing_time TIMESTAMP,
        entities STRUCT<hashtags: ARRAY<STRING>, user_mentions: ARRAY<STRUCT<screen_name: STRING, id: BIGINT>>, urls: ARRAY<STRING>>,
        place MAP<STRING, STRING>, lang STRING)
        USING delta TBLPROPERTIES ('delta.columnMapping.mode' = 'name', 'delta.enableDeletionVectors' = 'true',
                                   'delta.minReaderVersion' = '3', 'delta.minWriterVersion' = '7')""")
    spark.read.format("delta").load(src).createOrReplaceTempView("ours")
    spark.sql(f"""INSERT INTO delta.`{dst}`
        SELECT date,
               CASE WHEN user IS NULL THEN NULL
                    ELSE named_struct('screen_name', user, 'followers_count', length(user), 'verified', length(user) % 2 = 0) END,
               text, sentiment, source_file, processing_time,
               named_struct('hashtags', array(), 'user_mentions',
                            transform(regexp_extract_all(coalesce(text, ''), '@(\\\\w+)', 1), m -> named_struct('screen_name', m, 'id', CAST(length(m) AS BIGINT))),
                            'urls', CAST(NULL AS ARRAY<STRING>)),
               CASE WHEN length(coalesce(text, '')) % 3 = 0 THEN map('country', 'FR') ELSE map() END,
               'tmp'
        FROM ours""")
    spark.sql(f"ALTER TABLE delta.`{dst}` RENAME COLUMN lang TO language")
    spark.sql(f"ALTER TABLE delta.`{dst}` DROP COLUMN language")
    from delta.tables import DeltaTable
    answer({"version": DeltaTable.forPath(spark, dst).history(1).collect()[0]["version"]})


if __name__ == "__main__":
    main()
