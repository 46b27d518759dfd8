#!/usr/bin/env bash
# End to end, the way a user runs it: generate tweets, register the demo
# model, run the pipeline, run the EDA, then check the report in headless
# Chromium and the logged metrics against scikit-learn (on gold read by delta-rs).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go run ./scripts/gentweets --out "$work/raw" --tweets 3000 --bad 0.02 --seed 77 >/dev/null
go run ./scripts/register --registry "$work/mlruns" --model-dir testdata/models/tweet-sentiment-demo --stage Production >/dev/null
go run ./pipelines/medallion run --input "$work/raw" --lake "$work/lake" --registry "$work/mlruns" >/dev/null
go run ./eda --lake "$work/lake" --out "$work/report" --registry "$work/mlruns" --tracking-uri "$work/mlruns" >"$work/eda.txt"
./scripts/check-report.sh "$work/report"
run=$(ls -d "$work"/mlruns/1/*/)
.cache/venv/bin/python scripts/check_metrics_sklearn.py "$work/lake/gold" "$run"
# MLflow's own client reads the run: the course's metric and param names are there.
MLFLOW_ALLOW_FILE_STORE=true MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true .cache/venv/bin/python - "$work/mlruns" "$(basename "$run")" <<'PY'
import sys
import mlflow
from mlflow.tracking import MlflowClient
mlflow.set_tracking_uri("file://" + sys.argv[1])  # else MLflow opens an mlflow.db in the working folder
run = MlflowClient(tracking_uri="file://" + sys.argv[1]).get_run(sys.argv[2])
need_metrics = {"precision", "recall", "f1_score", "positive_precision", "positive_recall", "positive_f1"}
need_params = {"model_name", "mlflow_version", "delta_tbl_version"}
missing = (need_metrics - run.data.metrics.keys()) | (need_params - run.data.params.keys())
print(f"MLflow's client reads run {run.info.run_id}: f1_score {run.data.metrics.get('f1_score')}, "
      f"positive_f1 {run.data.metrics.get('positive_f1')}, delta_tbl_version {run.data.params.get('delta_tbl_version')}")
if missing:
    sys.exit(f"MLflow's client does not find {sorted(missing)}")
PY
