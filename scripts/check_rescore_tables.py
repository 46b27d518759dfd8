"""Compares a re-scored lake with a fresh run's, through delta-rs: gold and
application must hold the same rows (as multisets), silver must still be at
the version the first run committed, and gold's newest commit must be one
overwrite that records the model it was scored with.

usage: check_rescore_tables.py RESCORED_LAKE FRESH_LAKE
"""
import collections
import json
import os
import sys

from deltalake import DeltaTable


def rows(table):
    t = DeltaTable(table).to_pyarrow_table()
    return collections.Counter(tuple(r.items()) for r in t.to_pylist())


def main():
    rescored, fresh = sys.argv[1], sys.argv[2]
    failures = []
    for name in ("gold", "application"):
        a, b = rows(os.path.join(rescored, name)), rows(os.path.join(fresh, name))
        if a != b:
            failures.append(f"{name}: {sum(a.values())} rows re-scored, {sum(b.values())} fresh, "
                            f"{sum((a - b).values())} only re-scored, {sum((b - a).values())} only fresh")
    silver = DeltaTable(os.path.join(rescored, "silver"))
    if silver.version() != DeltaTable(os.path.join(fresh, "silver")).version():
        failures.append(f"silver moved to version {silver.version()}: a re-score must not write it")
    gold = DeltaTable(os.path.join(rescored, "gold"))
    last = gold.history(1)[0]
    params = last.get("operationParameters") or {}
    if params.get("mode") != "Overwrite" or params.get("model_version") != "2":
        failures.append(f"gold's newest commit is not one overwrite by model version 2: {json.dumps(last)[:400]}")
    n = gold.to_pyarrow_table().num_rows
    if failures:
        print("rescore check FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"rescore check: gold ({n} rows) and application equal a fresh run with the new model; silver untouched (delta-rs)")


if __name__ == "__main__":
    main()
