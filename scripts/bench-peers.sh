#!/usr/bin/env bash
# The same texts through transformers.js (as documented, and tuned) for each
# benchmark model; compare with BenchmarkCeiling's numbers in docs/BENCHMARKS.md.
# Usage: scripts/bench-peers.sh [MODEL_DIR...]  (default: the demo model and .cache/bench-models/*)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go run ./scripts/gentweets --out "$work/raw" --tweets 256 --per-file 256 --format ndjson --seed 606 --truth "$work/t.csv" >/dev/null
/usr/bin/python3 -c 'import csv,json,sys; print(json.dumps([r["text"] for r in csv.DictReader(open(sys.argv[1], encoding="utf-8"))]))' "$work/t.csv" >"$work/texts.json"
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(testdata/models/tweet-sentiment-demo .cache/bench-models/*)
for m in "${models[@]}"; do
	node scripts/parity/bench.mjs "$m" "$work/texts.json" 32
done
