#!/usr/bin/env bash
# The demo: set up, generate 5,000 Sentiment140-shaped tweets (2% malformed),
# register the demo model as Production in an MLflow-format registry, run the
# whole medallion pipeline (raw → bronze → silver → gold → application) and
# print what it committed, with the top mentions; then the EDA, the
# evaluation logged as an MLflow run, and the HTML report.
# Outputs go to out/demo (ignored by git); each run starts afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
out=out/demo
rm -rf "$out"
mkdir -p "$out"
echo "== generating tweets"
go run ./scripts/gentweets --out "$out/raw" --tweets 5000 --bad 0.02 --seed 2026
echo "== registering the demo model (a tiny model trained on generated tweets: see testdata/models/tweet-sentiment-demo/README.md)"
go run ./scripts/register --registry "$out/mlruns" --name tweet-sentiment --model-dir testdata/models/tweet-sentiment-demo --stage Production
echo "== running the pipeline (prism runner)"
go run ./pipelines/medallion --input "$out/raw" --lake "$out/lake" --registry "$out/mlruns" --model models:/tweet-sentiment/Production
echo "tables (Delta Lake, readable by Spark, delta-rs and DuckDB) are under $out/lake"
echo
echo "== EDA, evaluation (MLflow run in $out/mlruns) and report"
go run ./eda --lake "$out/lake" --out "$out/report" --registry "$out/mlruns" --tracking-uri "$out/mlruns" --top 10
