#!/usr/bin/env python3
"""Compares the metrics an EDA run logged with scikit-learn's on the same gold
rows, read by delta-rs (not by our reader). Usage: check_metrics_sklearn.py
GOLD_TABLE RUN_DIR. Needs scikit-learn and deltalake (.cache/venv, from
scripts/setup-test.sh). Exits 1 on any difference above 1e-12."""
import os
import sys

from deltalake import DeltaTable
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

gold_table, run_dir = sys.argv[1], sys.argv[2]
gold = DeltaTable(gold_table).to_pyarrow_table(columns=["sentiment", "predicted_sentiment"]).to_pylist()
y_true, y_pred = [], []
for r in gold:
    if r["sentiment"] in ("positive", "negative") and r["predicted_sentiment"]:
        y_true.append(r["sentiment"])
        y_pred.append(r["predicted_sentiment"])

labels = ["negative", "neutral", "positive"]
p, r, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=["positive"], average=None, zero_division=0)
wp, wr, wf, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
expected = {
    "precision": p[0], "recall": r[0], "f1": f1[0], "accuracy": accuracy_score(y_true, y_pred),
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
print(f"{len(y_true)} gold rows; {'all metrics equal scikit-learn' if not bad else f'{bad} metrics differ'}")
# delta-rs's runtime threads can abort the interpreter's shutdown
# ("terminate called without an active exception"): leave at once.
sys.stdout.flush()
os._exit(1 if bad else 0)
