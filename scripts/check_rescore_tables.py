"""Compares a re-scored lake with a fresh run's, through delta-rs: gold and
application must hold the same rows (as multisets), at least MIN_GOLD_ROWS
of them; silver must still be at the version it had before the re-score;
gold's newest commit must be one overwrite that records the model it was
scored with; and the new model must have changed some labels against gold
before the re-score (read at its earlier version), or the check could not
tell a re-score from no re-score.

predicted_score is compared to within 1e-4 (on its 0-100 scale), every other
column exactly: ONNX Runtime's float32 results depend in the last bit on how
texts were batched and padded, which differs between a re-score (all of
silver at once) and a run that scores batch by batch; labels do not.

usage: check_rescore_tables.py RESCORED_LAKE FRESH_LAKE SILVER_VERSION_BEFORE GOLD_VERSION_BEFORE MIN_GOLD_ROWS
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
    silver_before, gold_before, min_rows = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
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
    if silver.version() != silver_before:
        failures.append(f"silver moved from version {silver_before} to {silver.version()}: a re-score must not write it")
    gold = DeltaTable(os.path.join(rescored, "gold"))
    last = gold.history(1)[0]
    params = last.get("operationParameters") or {}
    if params.get("mode") != "Overwrite" or params.get("model_version") != "2":
        failures.append(f"gold's newest commit is not one overwrite by model version 2: {json.dumps(last)[:400]}")
    n = gold.to_pyarrow_table().num_rows
    if n < min_rows:
        failures.append(f"gold holds {n} rows, fewer than {min_rows}: too few to show anything")
    labels = lambda version: collections.Counter(
        (r["timestamp"], r["mention"], r["cleaned_text"], r["sentiment"], r["predicted_sentiment"])
        for r in DeltaTable(os.path.join(rescored, "gold"), version=version).to_pyarrow_table(
            columns=["timestamp", "mention", "cleaned_text", "sentiment", "predicted_sentiment"]).to_pylist())
    old, new = labels(gold_before), labels(gold.version())
    changed = sum((new - old).values())
    if changed == 0:
        failures.append(f"the new model changed no label against gold v{gold_before}: the check cannot tell it ran")
    if failures:
        print("rescore check FAILED:\n  " + "\n  ".join(failures), flush=True)
        os._exit(1)
    print(f"rescore check: gold ({n} rows, {changed} labels changed by the new model) and application equal a fresh "
          f"run with the new model (predicted_score to {worst:.1g}); silver untouched at v{silver_before} (delta-rs)", flush=True)
    # delta-rs's runtime threads can abort the interpreter's shutdown
    # ("terminate called without an active exception"): leave at once.
    os._exit(0)


if __name__ == "__main__":
    main()
