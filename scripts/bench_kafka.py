#!/usr/bin/env python3
"""Latency of a Kafka stream, per message, from its producer's acknowledgement to its commit: the analysis of
scripts/bench-kafka.sh, reading each side's own records (not our Go code's reading of them).

  bench_kafka.py ours ACKS.csv LAKE        # medallion: plan ranges (LAKE/_checkpoints/plans), and the
                                           # bronze and gold Delta commits carrying each batch's txn
  bench_kafka.py spark ACKS.csv TABLE CHECKPOINT   # Spark: its offset log (CHECKPOINT/offsets/N) and the
                                           # Delta commit of each batch (txn of its query id, version N)

ACKS.csv (gentweets --acks): partition,offset,acked_ms. Prints one JSON line: {"messages": n, "bronze":
{"p50": s, "p95": s, "max": s}, "gold": {...}} (seconds; Spark has bronze only).
"""
import csv
import glob
import json
import os
import statistics
import sys


def acks(path):
    with open(path) as f:
        return {(int(r["partition"]), int(r["offset"])): int(r["acked_ms"]) for r in csv.DictReader(f)}


def commits_by_txn(table):
    """{(appId, version): commit timestamp ms} from a Delta table's JSON commits."""
    out = {}
    for p in sorted(glob.glob(os.path.join(table, "_delta_log", "*.json"))):
        txns, ts = [], None
        for line in open(p):
            a = json.loads(line)
            if "txn" in a:
                txns.append((a["txn"]["appId"], a["txn"]["version"]))
            if "commitInfo" in a:
                ts = a["commitInfo"]["timestamp"]
        for t in txns:
            out[t] = ts
    return out


def stats(xs):
    xs = sorted(xs)
    return {"p50": round(statistics.median(xs), 3), "p95": round(xs[int(0.95 * (len(xs) - 1))], 3), "max": round(xs[-1], 3)}


def ours(ack, lake):
    done = {name: commits_by_txn(os.path.join(lake, name)) for name in ("bronze", "gold")}
    lat = {"bronze": [], "gold": []}
    for p in sorted(glob.glob(os.path.join(lake, "_checkpoints", "plans", "*.json"))):
        plan = json.load(open(p))
        for r in plan.get("kafka") or []:
            for off in range(r["from"], r["to"]):
                a = ack.get((r["partition"], off))
                if a is None:
                    continue
                for name in lat:
                    lat[name].append((done[name][("medallion", plan["batch"])] - a) / 1000)
    return {"messages": len(lat["bronze"]), "bronze": stats(lat["bronze"]), "gold": stats(lat["gold"])}


def spark(ack, table, ckpt):
    done = commits_by_txn(table)
    by_batch = {v: ts for (_, v), ts in done.items()}
    prev, lat = {}, []
    for p in sorted(glob.glob(os.path.join(ckpt, "offsets", "*")), key=lambda p: int(os.path.basename(p))):
        n = int(os.path.basename(p))
        ends = json.loads(open(p).read().strip().splitlines()[-1])
        for topic, parts in ends.items():
            for part, end in parts.items():
                part = int(part)
                for off in range(prev.get(part, 0), end):
                    a = ack.get((part, off))
                    if a is not None and n in by_batch:
                        lat.append((by_batch[n] - a) / 1000)
                prev[part] = end
    return {"messages": len(lat), "bronze": stats(lat)}


if __name__ == "__main__":
    mode, ackfile = sys.argv[1], sys.argv[2]
    a = acks(ackfile)
    print(json.dumps(ours(a, sys.argv[3]) if mode == "ours" else spark(a, sys.argv[3], sys.argv[4])))
