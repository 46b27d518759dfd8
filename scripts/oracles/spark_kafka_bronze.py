#!/usr/bin/env python3
"""The peer of `medallion --input kafka://…`: Spark Structured Streaming's Kafka source writing a Delta
bronze table with the course notebook's bronze logic (its schema, source_file, processing_time).

  spark_kafka_bronze.py --warm
      fetch Spark's Kafka connector (org.apache.spark:spark-sql-kafka-0-10_2.13, KAFKA_PACKAGE below) with Ivy
      into .cache/ivy: set-up time, the only mode that may use the network.
  spark_kafka_bronze.py BROKERS TOPIC OUT_TABLE CHECKPOINT [--trigger available-now|SECONDS] [--rows N]
                        [--compare OUR_BRONZE]
      read TOPIC from its earliest offsets into the Delta table OUT_TABLE. available-now (the default) reads
      what the topic holds and stops; SECONDS runs a processing-time trigger until the table holds N rows.
      Prints {"rows": R, "seconds": S, "batches": B} (S: from the query's start to its end); with --compare,
      also how many rows (date, user, text, sentiment, source_file; as multisets) only OUR_BRONZE has and how
      many only OUT_TABLE has, both read by Spark: {"only_ours": N, "only_spark": M}.

A message's value is parsed as one JSON object with the course's schema (from_json: a value that is not
one gives a row of nulls, where the notebook's Auto Loader would too); source_file is
kafka://TOPIC/PARTITION/OFFSET, as ours; processing_time is current_timestamp().
"""
import glob
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_compat import answer, spark_session  # noqa: E402


# Spark's Kafka connector for the installed PySpark (4.0.1). Pinned at 4.0.0: the registry this project is
# built with serves spark-token-provider-kafka-0-10 (a dependency of the connector) at 4.0.0, not at 4.0.1,
# and a patch release of the connector keeps Spark's data source API.
KAFKA_PACKAGE = "org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.0"


def kafka_package():
    return KAFKA_PACKAGE


def committed_rows(table):
    """The rows a Delta table's JSON commits added (numRecords of their add actions), read without Spark: a
    count per poll would put a Spark job beside the query being measured."""
    n = 0
    for p in glob.glob(os.path.join(table, "_delta_log", "*.json")):
        for line in open(p):
            a = json.loads(line)
            if "add" in a and a["add"].get("stats"):
                n += json.loads(a["add"]["stats"]).get("numRecords", 0)
    return n


def main():
    if sys.argv[1:] == ["--warm"]:
        spark = spark_session(warm=True, packages=[kafka_package()])
        answer({"ok": True, "package": kafka_package()})
        spark.stop()
        return
    brokers, topic, out, ckpt = sys.argv[1:5]
    rest = sys.argv[5:]
    trigger, rows, compare = "available-now", 0, None
    while rest:
        flag, value, rest = rest[0], rest[1], rest[2:]
        if flag == "--trigger":
            trigger = value
        elif flag == "--rows":
            rows = int(value)
        elif flag == "--compare":
            compare = value
        else:
            raise SystemExit(f"unknown flag {flag}")
    spark = spark_session(packages=[kafka_package()])
    from pyspark.sql.functions import col, concat, current_timestamp, from_json, lit

    schema = "date STRING, user STRING, text STRING, sentiment STRING"
    bronze = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", brokers)
              .option("subscribe", topic)
              .option("startingOffsets", "earliest")
              .option("failOnDataLoss", "true")
              .load()
              .select(from_json(col("value").cast("string"), schema).alias("t"), "topic", "partition", "offset")
              .select("t.*",
                      concat(lit("kafka://"), col("topic"), lit("/"), col("partition").cast("string"), lit("/"),
                             col("offset").cast("string")).alias("source_file"),
                      current_timestamp().alias("processing_time")))
    w = (bronze.writeStream.format("delta").outputMode("append")
         .option("checkpointLocation", ckpt).option("mergeSchema", "true").queryName("bronze_stream"))
    start = time.time()
    if trigger == "available-now":
        q = w.trigger(availableNow=True).start(out)
        q.awaitTermination()
    else:
        q = w.trigger(processingTime=f"{trigger} seconds").start(out)
        while True:
            if q.exception() is not None:
                raise SystemExit(str(q.exception()))
            if committed_rows(out) >= rows:
                break
            time.sleep(0.5)
        q.stop()
    took = time.time() - start
    n = spark.read.format("delta").load(out).count()
    batches = len([f for f in os.listdir(os.path.join(ckpt, "commits")) if f.isdigit()])
    res = {"rows": n, "seconds": took, "batches": batches}
    if compare:
        cols = ["date", "user", "text", "sentiment", "source_file"]
        ours = spark.read.format("delta").load(compare).select(*cols)
        theirs = spark.read.format("delta").load(out).select(*cols)
        res["only_ours"] = ours.exceptAll(theirs).count()
        res["only_spark"] = theirs.exceptAll(ours).count()
    answer(res)
    spark.stop()


if __name__ == "__main__":
    main()
