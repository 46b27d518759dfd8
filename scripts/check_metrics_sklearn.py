#!/usr/bin/env python3
"""Compares the metrics an EDA run logged with scikit-learn's on the same gold
rows, read by delta-rs (not by our reader): the course's precision, recall
and f1_score (average='weighted' over every row's sentiment_id and
predicted_sentiment_id, as the course notebook computes them), the positive
class's on rows with a given sentiment, and the rest; and the course's
delta_tbl_version param against silver's version as delta-rs reads it.
Usage: check_metrics_sklearn.py GOLD_TABLE RUN_DIR (silver is GOLD_TABLE's
sibling). Needs scikit-learn and deltalake (.cache/venv, from
scripts/setup-test.sh). Exits 1 on any difference above 1e-12."""
import os
import sys

from deltalake import DeltaTable
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support, precision_score, recall_score

gold_table, run_dir = sys.argv[1], sys.argv[2]
gold = DeltaTable(gold_table).to_pyarrow_table(
    columns=["sentiment", "predicted_sentiment", "sentiment_id", "predicted_sentiment_id"]).to_pylist()
ids_true = [r["sentiment_id"] for r in gold]
ids_pred = [r["predicted_sentiment_id"] for r in gold]
y_true, y_pred = [], []
for r in gold:
    if r["sentiment"] in ("positive", "negative") and r["predicted_sentiment"]:
        y_true.append(r["sentiment"])
        y_pred.append(r["predicted_sentiment"])

labels = ["negative", "neutral", "positive"]
p, r, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=["positive"], average=None, zero_division=0)
wp, wr, wf, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
expected = {
    "precision": precision_score(ids_true, ids_pred, average="weighted"),
    "recall": recall_score(ids_true, ids_pred, average="weighted"),
    "f1_score": f1_score(ids_true, ids_pred, average="weighted"),
    "positive_precision": p[0], "positive_recall": r[0], "positive_f1": f1[0], "accuracy": accuracy_score(y_true, y_pred),
    "weighted_precision": wp, "weighted_recall": wr, "weighted_f1": wf,
    "neutral_rate": sum(1 for y in y_pred if y == "neutral") / len(y_pred),
}
bad = 0
for key, want in expected.items():
    with open(os.path.join(run_dir, "metrics", key)) as f:
        got = float(f.read().split()[1])
    ok = abs(got - want) <= 1e-12
    bad += not ok
    print(f"{key:20s} logged {got:.12f}  scikit-learn {want:.12f}  {'ok' if ok else 'DIFFERENT'}")
silver_version = DeltaTable(os.path.join(os.path.dirname(gold_table.rstrip("/")), "silver")).version()
with open(os.path.join(run_dir, "params", "delta_tbl_version")) as f:
    logged = f.read().strip()
ok = logged == str(silver_version)
bad += not ok
print(f"{'delta_tbl_version':20s} logged {logged}  delta-rs silver version {silver_version}  {'ok' if ok else 'DIFFERENT'}")
print(f"{len(gold)} gold rows ({len(y_true)} with a given sentiment); {'all equal scikit-learn and delta-rs' if not bad else f'{bad} differ'}")
# delta-rs's runtime threads can abort the interpreter's shutdown
# ("terminate called without an active exception"): leave at once.
sys.stdout.flush()
os._exit(1 if bad else 0)
