#!/usr/bin/env python3
"""Latency from a file landing to its gold row, and throughput, read from a
lake a stream wrote: an independent reader of the Delta log's JSON commits
(gold's txn and commitInfo.timestamp) and of the stream's batch plans (which
files each batch took). It shares no code with the pipeline.

usage: stream_latency.py LAKE LANDINGS
LANDINGS: lines "WAVE EPOCH_MS FILE..." written as each wave was moved into
the input folder. Prints one JSON object: per-wave latency (ms, from the
wave's landing to the gold commit holding its last file), and rows/s.
"""
import glob
import json
import os
import statistics
import sys


def gold_commits(lake):
    """txn version (batch) -> (commit timestamp ms, rows added)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(lake, "gold", "_delta_log", "*.json"))):
        txn, ts, rows = None, None, 0
        with open(path) as f:
            for line in f:
                action = json.loads(line)
                if "txn" in action:
                    txn = action["txn"]["version"]
                elif "commitInfo" in action:
                    ts = action["commitInfo"]["timestamp"]
                elif "add" in action and action["add"].get("stats"):
                    rows += json.loads(action["add"]["stats"])["numRecords"]
        if txn is not None:
            out[txn] = (ts, rows)
    return out


def plans(lake):
    """file path -> batch."""
    out = {}
    for path in glob.glob(os.path.join(lake, "_checkpoints", "plans", "*.json")):
        with open(path) as f:
            p = json.load(f)
        for name in p["files"]:
            out[os.path.basename(name)] = p["batch"]
    return out


def main():
    lake, landings = sys.argv[1], sys.argv[2]
    commits, batch_of = gold_commits(lake), plans(lake)
    waves = []
    first_landing, last_commit, rows = None, None, 0
    with open(landings) as f:
        for line in f:
            fields = line.split()
            wave, landed, files = fields[0], int(fields[1]), fields[2:]
            batches = {batch_of[os.path.basename(x)] for x in files}
            committed = max(commits[b][0] for b in batches)
            waves.append({"wave": wave, "files": len(files), "batches": sorted(batches), "latency_ms": committed - landed})
            first_landing = landed if first_landing is None else min(first_landing, landed)
    used = {b for b in batch_of.values()}
    rows = sum(commits[b][1] for b in used if b in commits)
    last_commit = max(commits[b][0] for b in used)
    lat = [w["latency_ms"] for w in waves]
    print(json.dumps({
        "waves": waves,
        "median_latency_ms": statistics.median(lat),
        "min_latency_ms": min(lat), "max_latency_ms": max(lat),
        "gold_rows": rows,
        "span_ms": last_commit - first_landing,
        "gold_rows_per_s": rows / max(last_commit - first_landing, 1) * 1000,
    }))


if __name__ == "__main__":
    main()
