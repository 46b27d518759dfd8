#!/usr/bin/env bash
# Rebuilds the tiny test model folders under testdata/models (needs python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go run ./scripts/gentweets --out "$work/raw" --tweets 3000 --per-file 1000 --format ndjson --seed 55 --truth "$work/corpus.csv" >/dev/null
/usr/bin/python3 scripts/make_test_models.py "$work/corpus.csv"
