#!/usr/bin/env bash
# Builds the random-weight base-size benchmark models into .cache/bench-models
# (not committed), each with its int8 form (onnx/model_quantized.onnx).
# Needs torch and onnx: the test set-up's venv (scripts/setup-test.sh) has
# both; without it, Debian's python3-torch and python3-onnx.
set -euo pipefail
cd "$(dirname "$0")/.."
py=/usr/bin/python3
[ -x .cache/venv/bin/python ] && py=.cache/venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go run ./scripts/gentweets --out "$work/raw" --tweets 5000 --per-file 1000 --format ndjson --seed 66 --truth "$work/corpus.csv" >/dev/null
"$py" scripts/make_bench_models.py "$work/corpus.csv" .cache/bench-models 2>&1 | grep -v -i warn || true
for m in .cache/bench-models/*/; do
	"$py" scripts/quantize_model.py "$m"
done
du -sh .cache/bench-models/*
