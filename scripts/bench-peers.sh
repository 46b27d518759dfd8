#!/usr/bin/env bash
# The peers side by side (docs/BENCHMARKS.md, "The peers"): on the same
# realistic texts and model folders, the independent ceiling
# (scripts/bench_ceiling.py), our gold stage alone (medallion --stages
# silver:gold), transformers.js (scripts/parity/bench.mjs), Hugging Face's
# pipeline on Optimum's ONNX Runtime model, and Beam Python's RunInference
# with its ONNX handler (scripts/bench_peers.py), each as documented and at
# its best; batch 16 wherever a peer has a batch size. Interleaved, the
# order rotated every repetition; medians and ranges at the end.
# Usage: scripts/bench-peers.sh [N=2000 tweets] [REPS=3] [MODEL...]
# OURS_FLAGS="--inference-threads 0" adds flags to our runs (docs/BENCHMARKS.md, The peers).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
n=${1:-2000}
reps=${2:-3}
shift $(($# < 2 ? $# : 2))
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(.cache/bench-models/distilbert-size .cache/bench-models/roberta-size)
py=.cache/venv/bin/python
for need in "$py" .cache/optimum-export scripts/parity/node_modules "${models[@]}"; do
	[ -e "$need" ] || { echo "bench-peers.sh: $need missing: run scripts/setup-test.sh and scripts/make-bench-models.sh" >&2; exit 1; }
done
beampy=.cache/beam-python/bin/python
if [ ! -x "$beampy" ] || ! cmp -s scripts/requirements-beam-python.txt .cache/beam-python/requirements.txt; then
	echo "bench-peers.sh: installing Beam Python (scripts/requirements-beam-python.txt) into .cache/beam-python"
	rm -rf .cache/beam-python
	python3 -m venv .cache/beam-python
	.cache/beam-python/bin/pip install -q -r scripts/requirements-beam-python.txt
	cp scripts/requirements-beam-python.txt .cache/beam-python/requirements.txt
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/medallion" ./pipelines/medallion
go run ./scripts/gentweets --out "$work/raw" --tweets "$n" --per-file 1 --format object --seed 909 --profile realistic
"$work/medallion" run --input "$work/raw" --lake "$work/silver-lake" --stages raw:bronze,bronze:silver --monitoring "$work/mon" >/dev/null
silver_texts "$work/silver-lake" "$work/texts.json"
results="$work/results.tsv"
printf 'rep\tmodel\tpeer\tform\ttexts\ttexts_per_s\n' >"$results"
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

run() { # WHO MODEL REP
	local m=$2 name
	name=$(basename "$2")
	case $1 in
	ceiling)
		"$py" scripts/bench_ceiling.py "$m" "$work/texts.json" --batch 16 |
			"$py" -c 'import json,sys; d=json.load(sys.stdin); print(d["texts"], round(d["texts_per_s"], 1))' >"$work/o"
		read -r t r <"$work/o"; row "$3" "$name" ceiling "ONNX Runtime alone, sorted, batch 16" "$t" "$r" ;;
	ours)
		rm -rf "$work/lake"; cp -r "$work/silver-lake" "$work/lake"
		# shellcheck disable=SC2086 # OURS_FLAGS: extra flags for our runs, split on spaces
		"$work/medallion" run --lake "$work/lake" --stages silver:gold --model "$m" ${OURS_FLAGS:-} --monitoring "$work/mon" >"$work/o" 2>&1
		local t e
		read -r t e < <(summary_texts_seconds "$work/o")
		row "$3" "$name" medallion "gold stage (--stages silver:gold, default batch 16)" "$t" "$(awk -v t="$t" -v s="$e" 'BEGIN{printf "%.1f", t/s}')" ;;
	transformers.js)
		node scripts/parity/bench.mjs "$m" "$work/texts.json" 16 >"$work/o"
		"$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["texts"], round(d["documented_seq_per_s"],1), round(d["tuned_seq_per_s"],1))' "$work/o" >"$work/p"
		read -r t d u <"$work/p"
		row "$3" "$name" transformers.js "documented (pipeline, batches of 16 in arrival order)" "$t" "$d"
		row "$3" "$name" transformers.js "tuned (sorted by length, batch 16)" "$t" "$u" ;;
	hf-pipeline)
		PYTHONPATH=.cache/optimum-export "$py" scripts/bench_peers.py hf-pipeline "$m" "$work/texts.json" 2>/dev/null |
			"$py" -c 'import json,sys
for l in sys.stdin:
    d=json.loads(l); print("\t".join([sys.argv[1], sys.argv[2], d["peer"], d["form"], str(d["texts"]), str(d["texts_per_s"])]))' "$3" "$name" >>"$results" ;;
	beam-python)
		"$beampy" scripts/bench_peers.py beam-python "$m" "$work/texts.json" 2>/dev/null |
			"$py" -c 'import json,sys
for l in sys.stdin:
    d=json.loads(l); print("\t".join([sys.argv[1], sys.argv[2], d["peer"], d["form"], str(d["texts"]), str(d["texts_per_s"])]))' "$3" "$name" >>"$results" ;;
	esac
}

who=(ceiling ours transformers.js hf-pipeline beam-python)
for rep in $(seq 1 "$reps"); do
	for m in "${models[@]}"; do
		for i in "${!who[@]}"; do
			run "${who[$(((i + rep) % ${#who[@]}))]}" "$m" "$rep"
		done
		tail -n +2 "$results" | awk -v r="$rep" -F'\t' '$1 == r' | tail -9
	done
done
echo "== $(date -u +%F) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); N=$n tweets, $reps repetitions"
"$py" - "$results" <<'PY'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
models = list(dict.fromkeys(r["model"] for r in rows))
print("| model | peer | form | texts/s, median (range) | of the ceiling |")
print("|---|---|---|---:|---:|")
for m in models:
    ceil = {r["rep"]: float(r["texts_per_s"]) for r in rows if r["model"] == m and r["peer"] == "ceiling"}
    for peer, form in dict.fromkeys((r["peer"], r["form"]) for r in rows if r["model"] == m):
        rs = [r for r in rows if (r["model"], r["peer"], r["form"]) == (m, peer, form)]
        v = [float(r["texts_per_s"]) for r in rs]
        ratio = [float(r["texts_per_s"]) / ceil[r["rep"]] for r in rs]
        print(f"| {m} | {peer} | {form} | {st.median(v):.1f} ({min(v):.1f}–{max(v):.1f}) | {100*st.median(ratio):.0f}% |")
print(f"texts: {rows[0]['texts']} distinct silver texts; ratios: median of each repetition's ratio to that repetition's ceiling.")
PY
cp "$results" "${BENCH_RESULTS:-/dev/null}" 2>/dev/null || true
