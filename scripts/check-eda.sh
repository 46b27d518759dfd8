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
