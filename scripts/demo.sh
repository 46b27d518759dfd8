#!/usr/bin/env bash
# The demo: set up, generate 5,000 Sentiment140-shaped tweets (2% malformed),
# run the medallion pipeline on them, and print what it committed.
# Outputs go to out/demo (ignored by git); each run starts afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
out=out/demo
rm -rf "$out"
mkdir -p "$out"
echo "== generating tweets"
go run ./scripts/gentweets --out "$out/raw" --tweets 5000 --bad 0.02 --seed 2026
echo "== running the pipeline (raw → bronze → silver, prism runner)"
go run ./pipelines/medallion --input "$out/raw" --lake "$out/lake"
echo
echo "tables (Delta Lake, readable by Spark, delta-rs and DuckDB) are under $out/lake"
