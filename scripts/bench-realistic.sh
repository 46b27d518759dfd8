#!/usr/bin/env bash
# Realistic tweets, real vocabularies, against an independent ceiling
# (docs/BENCHMARKS.md, "Realistic tweets against the independent ceiling").
# For each benchmark model (scripts/make-bench-models.sh) in fp32 and int8:
# the whole pipeline on N one-tweet files of gentweets --profile realistic
# (prism, in process, a fresh lake each run); the gold stage alone
# (--stages silver:gold on a copy of a lake holding bronze and silver: the
# job reads silver's files, infers, writes and commits gold); and the
# ceiling on the very texts the gold stage inferred (silver's distinct
# cleaned_text, read with delta-rs): ONNX Runtime from Python on Hugging
# Face tokenizers' ids (scripts/bench_ceiling.py). Runs are interleaved, the order flipped every
# repetition; medians and ranges at the end.
# Usage: scripts/bench-realistic.sh [N=5000] [REPS=5] [MODEL...]
#
# At course scale (docs/BENCHMARKS.md, "Course scale against the ceiling")
# the gold-stage-alone runs and the warm-up pipeline run are what makes it
# long; leave them out with
#   GOLD_ALONE=0 WARMUP=0 PRECISIONS="fp32 int8" scripts/bench-realistic.sh 100000 3 .cache/bench-models/distilbert-size
# BATCH_SIZES="8 16 32 64" adds the ceiling at those batch sizes (fp32) to each
# repetition, for the choice of --batch-size's default.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
n=${1:-5000}
reps=${2:-5}
shift $(($# < 2 ? $# : 2))
models=("$@")
gold_alone=${GOLD_ALONE:-1}
warmup=${WARMUP:-1}
read -r -a precisions <<<"${PRECISIONS:-fp32 int8}"
read -r -a batch_sizes <<<"${BATCH_SIZES:-}"
[ ${#models[@]} -gt 0 ] || models=(.cache/bench-models/distilbert-size .cache/bench-models/roberta-size)
py=.cache/venv/bin/python
for need in "$py" "${models[@]}"; do
	[ -e "$need" ] || { echo "bench-realistic.sh: $need missing: run scripts/setup-test.sh and scripts/make-bench-models.sh" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/medallion" ./pipelines/medallion
go run ./scripts/gentweets --out "$work/raw" --tweets "$n" --per-file 1 --format object --seed 808 --profile realistic
results="$work/results.tsv"
printf 'rep\tmodel\tprecision\twho\ttexts\tseconds\ttexts_per_s\tgold_dofn_s\tpadded_tokens\n' >"$results"

ours() { # MODEL PRECISION REP [gold]: the whole pipeline, or the gold stage alone
	local flag=() lk="$work/lake" who=pipeline
	[ "$2" = int8 ] && flag=(--quantized)
	rm -rf "$lk"
	if [ "${4:-}" = gold ]; then
		who=gold-stage
		cp -r "$work/silver-lake" "$lk"
		"$work/medallion" run --lake "$lk" --stages silver:gold --model "$1" "${flag[@]}" --monitoring "$work/mon" >"$work/out.txt" 2>&1
	else
		"$work/medallion" run --input "$work/raw" --lake "$lk" --model "$1" "${flag[@]}" --monitoring "$work/mon" >"$work/out.txt" 2>&1
	fi
	local texts elapsed gold
	read -r texts elapsed < <(summary_texts_seconds "$work/out.txt")
	gold=$(awk '/gold_stream/ {print $(NF-1)/1000}' "$work/out.txt")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n' "$3" "$(basename "$1")" "$2" "$who" "$texts" "$elapsed" \
		"$(awk -v t="$texts" -v s="$elapsed" 'BEGIN{printf "%.1f", t/s}')" "$gold" >>"$results"
}
ceiling() { # MODEL PRECISION REP [BATCH]
	local flag=() batch=${4:-16} who=ceiling
	[ "$2" = int8 ] && flag=(--quantized)
	if [ "$batch" = 16 ]; then
		flag+=(--labels "$work/labels-$(basename "$1")-$2.json")
	else
		who="ceiling-batch$batch"
	fi
	"$py" scripts/bench_ceiling.py "$1" "$work/texts.json" --batch "$batch" "${flag[@]}" |
		"$py" -c 'import json,sys; d=json.load(sys.stdin); print("\t".join(map(str, [sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], d["texts"], round(d["run_s"], 3), round(d["texts_per_s"], 1), "", d["padded_tokens"]])))' \
			"$3" "$(basename "$1")" "$2" "$who" >>"$results"
}

[ "$warmup" = 0 ] || ours "${models[0]}" fp32 0 # a warm file cache and model; not counted
# Bronze and silver for the gold stage alone; silver's texts are what the ceiling infers.
"$work/medallion" run --input "$work/raw" --lake "$work/silver-lake" --stages raw:bronze,bronze:silver --monitoring "$work/mon" >/dev/null
[ -f "$work/texts.json" ] || silver_texts "$work/silver-lake" "$work/texts.json"
gold() { [ "$gold_alone" = 0 ] || ours "$@" gold; }
for rep in $(seq 1 "$reps"); do
	for m in "${models[@]}"; do
		for p in "${precisions[@]}"; do
			if [ $((rep % 2)) = 1 ]; then
				ours "$m" $p "$rep"; gold "$m" $p "$rep"; ceiling "$m" $p "$rep"
			else
				ceiling "$m" $p "$rep"; gold "$m" $p "$rep"; ours "$m" $p "$rep"
			fi
			tail -3 "$results"
		done
		# Batch sizes, fp32, in an order rotated every repetition.
		if [ ${#batch_sizes[@]} -gt 0 ]; then
			k=${#batch_sizes[@]}
			for i in $(seq 0 $((k - 1))); do
				b=${batch_sizes[$(((i + rep) % k))]}
				[ "$b" = 16 ] || ceiling "$m" fp32 "$rep" "$b"
			done
		fi
	done
done
echo "== $(date -u +%F) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); N=$n tweets, $reps repetitions"
"$py" - "$results" <<'PY'
import csv, statistics as st, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") if r["rep"] != "0"]
keys = sorted({(r["model"], r["precision"]) for r in rows})
def of(m, p, who):
    return [r for r in rows if (r["model"], r["precision"], r["who"]) == (m, p, who)]
def rate(rs):
    v = [float(r["texts_per_s"]) for r in rs]
    return f"{st.median(v):.1f} ({min(v):.1f}–{max(v):.1f})"
def ratio(rs, c):
    v = [float(a["texts_per_s"]) / float(b["texts_per_s"]) for a in rs for b in c if a["rep"] == b["rep"]]
    return f"{100*st.median(v):.0f}% ({100*min(v):.0f}–{100*max(v):.0f}%)"
print("| model | precision | texts | ceiling texts/s | gold stage alone texts/s | gold / ceiling | whole pipeline texts/s | pipeline / ceiling |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for m, p in keys:
    c, g, o = of(m, p, "ceiling"), of(m, p, "gold-stage"), of(m, p, "pipeline")
    gr = (rate(g), ratio(g, c)) if g else ("not run", "")
    print(f"| {m} | {p} | {o[0]['texts']} | {rate(c)} | {gr[0]} | {gr[1]} | {rate(o)} | {ratio(o, c)} |")
print("texts/s: median (range) over the repetitions; ratios: median (range) of each repetition's ratio.")
sizes = sorted({int(r["who"][len("ceiling-batch"):]) for r in rows if r["who"].startswith("ceiling-batch")} | {16})
if len(sizes) > 1:
    print("\n| model | " + " | ".join(f"batch {b}" for b in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for m in sorted({r["model"] for r in rows}):
        cells = []
        for b in sizes:
            rs = of(m, "fp32", "ceiling" if b == 16 else f"ceiling-batch{b}")
            c = of(m, "fp32", "ceiling")
            cells.append(f"{rate(rs)}, {ratio(rs, c)}" if rs else "")
        print(f"| {m} | " + " | ".join(cells) + " |")
    print("ceiling fp32 texts/s by batch size: median (range), and the ratio to batch 16 in the same repetition.")
PY
# int8 against fp32: how often the labels agree on these texts (the ceiling's
# argmax, so ONNX Runtime's and not ours), for each model and the demo model.
demo=testdata/models/tweet-sentiment-demo
for p in fp32 int8; do
	flag=()
	[ $p = int8 ] && flag=(--quantized)
	"$py" scripts/bench_ceiling.py "$demo" "$work/texts.json" "${flag[@]}" --labels "$work/labels-$(basename "$demo")-$p.json" >/dev/null
done
for m in "${models[@]}" "$demo"; do
	a="$work/labels-$(basename "$m")-fp32.json" b="$work/labels-$(basename "$m")-int8.json"
	[ -f "$a" ] && [ -f "$b" ] || continue
	"$py" -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:3]); print(f"int8 labels equal fp32 labels on {100*sum(x==y for x,y in zip(a,b))/len(a):.2f}% of {len(a)} texts ({sys.argv[3]})")' "$a" "$b" "$(basename "$m")"
done
cp "$results" "${BENCH_RESULTS:-/dev/null}" 2>/dev/null || true
