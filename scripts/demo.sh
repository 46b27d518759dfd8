#!/usr/bin/env bash
# The demo: set up (Go, ONNX Runtime and a word list only), build the four commands,
# generate 5,000 Sentiment140-shaped tweets (2% malformed), register the demo
# model as Production in an MLflow-format registry, run the whole medallion
# pipeline (raw → bronze → silver → gold → application) and print what it
# committed, with the top mentions; then the EDA, the evaluation logged as an
# MLflow run, and the HTML report.
# Outputs go to out/demo (ignored by git); each run starts afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
./scripts/setup.sh
bin=.cache/bin
mkdir -p "$bin"
if [ ! -x "$bin/medallion" ] || [ ! -x "$bin/eda" ]; then
	echo "== building the pipeline, the EDA and two tools (first time: Go downloads and compiles Beam, Arrow and"
	echo "   the plotting library, about 3 minutes on 2 cores; later runs take seconds)"
fi
# One go build for all four: shared packages compile once; up-to-date
# binaries are not relinked; without debug information (-s -w) the link
# takes half the time.
go build -ldflags="-s -w" -o "$bin/" ./pipelines/medallion ./eda ./scripts/gentweets ./scripts/register
out=out/demo
rm -rf "$out"
mkdir -p "$out"
echo "== generating tweets"
"$bin/gentweets" --out "$out/raw" --tweets 5000 --bad 0.02 --seed 2026 --profile realistic
echo "== registering the demo model (a tiny model trained on generated tweets: see testdata/models/tweet-sentiment-demo/README.md)"
"$bin/register" --registry "$out/mlruns" --name tweet-sentiment --model-dir testdata/models/tweet-sentiment-demo --stage Production
echo "== running the pipeline (prism runner)"
"$bin/medallion" run --input "$out/raw" --lake "$out/lake" --registry "$out/mlruns" --model models:/tweet-sentiment/Production
echo "tables (Delta Lake, readable by Spark, delta-rs and DuckDB) are under $out/lake"
echo
echo "== EDA, evaluation (MLflow run in $out/mlruns) and report"
"$bin/eda" --lake "$out/lake" --out "$out/report" --registry "$out/mlruns" --tracking-uri "$out/mlruns" --top 10
echo "demo finished in $((SECONDS - start)) s"
