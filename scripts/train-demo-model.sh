#!/usr/bin/env bash
# Retrains the committed demo model (testdata/models/tweet-sentiment-demo)
# from generated tweets of the realistic profile (Sentiment140-shaped; its
# word list comes from scripts/setup.sh). Needs Debian's python3-torch
# (apt-get install python3-torch); tests and the pipeline never need torch.
set -euo pipefail
cd "$(dirname "$0")/.."
out=testdata/models/tweet-sentiment-demo
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go run ./scripts/gentweets --out "$work/train" --tweets 40000 --per-file 1000 --format ndjson --seed 101 --profile realistic --truth "$work/train.csv" >/dev/null
go run ./scripts/gentweets --out "$work/heldout" --tweets 5000 --per-file 1000 --format ndjson --seed 202 --profile realistic --truth "$work/heldout.csv" >/dev/null
/usr/bin/python3 scripts/train_demo_model.py --train "$work/train.csv" --heldout "$work/heldout.csv" --out "$out" "$@"
# The int8 form (--quantized), in ONNX Runtime's dynamic-quantization pattern.
.cache/venv/bin/python scripts/quantize_model.py "$out" # the onnx package, from scripts/setup-test.sh
ls -la "$out" "$out/onnx"
