"""Compares a re-scored lake with a fresh run's, through delta-rs: gold and
application must hold the same rows (as multisets), silver must still be at
the version the first run committed, and gold's newest commit must be one
overwrite that records the model it was scored with.

predicted_score is compared to within 1e-4 (on its 0-100 scale), every other
column exactly: ONNX Runtime's float32 results depend in the last bit on how
texts were batched and padded, which differs between a re-score (all of
silver at once) and a run that scores batch by batch; labels do not.

usage: check_rescore_tables.py RESCORED_LAKE FRESH_LAKE
"""
import collections
import json
import os
import sys

from deltalake import DeltaTable


TOLERANCE = 1e-4


def rows(table):
    """The table's rows as a multiset, and each gold row's score by its other columns."""
    t = DeltaTable(table).to_pyarrow_table()
    exact, scores = collections.Counter(), collections.defaultdict(list)
    for r in t.to_pylist():
        score = r.pop("predicted_score", None)
        key = tuple(r.items())
        exact[key] += 1
        if score is not None:
            scores[key].append(score)
    return exact, scores


def main():
    rescored, fresh = sys.argv[1], sys.argv[2]
    failures = []
    worst = 0.0
    for name in ("gold", "application"):
        (a, sa), (b, sb) = rows(os.path.join(rescored, name)), rows(os.path.join(fresh, name))
        if a != b:
            failures.append(f"{name}: {sum(a.values())} rows re-scored, {sum(b.values())} fresh, "
                            f"{sum((a - b).values())} only re-scored, {sum((b - a).values())} only fresh")
            continue
        for key, xs in sa.items():
            for x, y in zip(sorted(xs), sorted(sb[key])):
                worst = max(worst, abs(x - y))
    if worst > TOLERANCE:
        failures.append(f"gold: predicted_score differs by up to {worst:g} (tolerance {TOLERANCE:g})")
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
        print("rescore check FAILED:\n  " + "\n  ".join(failures), flush=True)
        os._exit(1)
    print(f"rescore check: gold ({n} rows) and application equal a fresh run with the new model "
          f"(predicted_score to {worst:.1g}); silver untouched (delta-rs)", flush=True)
    # delta-rs's runtime threads can abort the interpreter's shutdown
    # ("terminate called without an active exception"): leave at once.
    os._exit(0)


if __name__ == "__main__":
    main()
