#!/usr/bin/env bash
# Realistic tweets, real vocabularies, against an independent ceiling
# (docs/BENCHMARKS.md, "Realistic tweets against the independent ceiling").
# For each benchmark model (scripts/make-bench-models.sh) in fp32 and int8:
# the whole pipeline on N one-tweet files of gentweets --profile realistic
# (prism, in process, a fresh lake each run); the gold stage alone
# (--stages silver:gold on a copy of a lake holding bronze and silver: the
# job reads silver's files, infers, writes and commits gold); and the
# ceiling on the very texts the gold stage inferred (silver's distinct
# cleaned_text, read with delta-rs), tokenized once by Hugging Face's
# tokenizers and sorted by length (scripts/bench_ceiling.py --write-ids).
# The ceiling is the best of its configurations, in each repetition:
# HARNESS:THREADS:SESSIONS:BATCH, where HARNESS is python (ONNX Runtime
# from PyPI, scripts/bench_ceiling.py) or node (the very build the pipeline
# loads, npm onnxruntime-node, scripts/ceiling/ceiling.mjs), THREADS the
# intra-op threads per session, SESSIONS how many run in parallel. Default:
# every combination of python/node, 1/2 threads, 1/2 sessions, batch 16/32.
# Runs are interleaved, the order flipped (the configurations rotated) every
# repetition; medians and ranges at the end. Our own Go timing of the gold
# DoFn is printed as a diagnostic column, never as the ceiling.
# Usage: scripts/bench-realistic.sh [N=5000] [REPS=5] [MODEL...]
#
# At course scale (docs/BENCHMARKS.md, "Course scale against the ceiling")
# the gold-stage-alone runs and the warm-up pipeline run are what makes it
# long; leave them out, and give the configurations the sweep at 5,000 found
# best, with
#   GOLD_ALONE=0 WARMUP=0 CEILING="python:1:2:32 node:1:2:32" scripts/bench-realistic.sh 100000 2 .cache/bench-models/distilbert-size
# CEILING="python:0:1:8 python:0:1:16 python:0:1:32 python:0:1:64" compares
# batch sizes (0 threads: ONNX Runtime's default, all cores).
# OURS_FLAGS="--inference-threads 0" adds flags to our runs (split on spaces).
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
read -r -a ours_flags <<<"${OURS_FLAGS:-}"
read -r -a configs <<<"${CEILING:-python:1:1:16 python:1:1:32 python:1:2:16 python:1:2:32 python:2:1:16 python:2:1:32 python:2:2:16 python:2:2:32 node:1:1:16 node:1:1:32 node:1:2:16 node:1:2:32 node:2:1:16 node:2:1:32 node:2:2:16 node:2:2:32}"
[ ${#models[@]} -gt 0 ] || models=(.cache/bench-models/distilbert-size .cache/bench-models/roberta-size)
py=.cache/venv/bin/python
. scripts/setup-lib.sh
npmci scripts/ceiling "the ceiling's ONNX Runtime (onnxruntime-node)"
# The node harness runs the library the pipeline loads: the same file.
cmp -s scripts/ceiling/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 .cache/onnxruntime/libonnxruntime.so.1 ||
	echo "bench-realistic.sh: note: the node harness's libonnxruntime.so.1 differs from .cache/onnxruntime's (ORT_LIB?)" >&2
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
	local flag=("${ours_flags[@]}") lk="$work/lake" who=pipeline
	[ "$2" = int8 ] && flag+=(--quantized)
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
ceiling() { # MODEL PRECISION REP CONFIG: one configuration of the ceiling
	local flag=() h t ss b out="$work/ceiling.json"
	IFS=: read -r h t ss b <<<"$4"
	[ "$2" = int8 ] && flag=(--quantized)
	case "$h" in
	python) "$py" scripts/bench_ceiling.py "$1" "$work/ids-$(basename "$1").json" --ids --threads "$t" --sessions "$ss" --batch "$b" "${flag[@]}" \
		--labels "$work/labels-$(basename "$1")-$2.json" >"$out" ;;
	node) node scripts/ceiling/ceiling.mjs "$1" "$work/ids-$(basename "$1").json" --threads "$t" --sessions "$ss" --batch "$b" "${flag[@]}" >"$out" ;;
	*) echo "bench-realistic.sh: unknown harness $h in $4" >&2; exit 2 ;;
	esac
	"$py" -c 'import json,sys; d=json.load(open(sys.argv[5])); print("\t".join(map(str, [sys.argv[1], sys.argv[2], sys.argv[3], "ceiling:" + sys.argv[4], d["texts"], round(d["run_s"], 3), round(d["texts_per_s"], 1), "", d["padded_tokens"]])))' \
		"$3" "$(basename "$1")" "$2" "$4" "$out" >>"$results"
}
ceilings() { # MODEL PRECISION REP: every configuration, rotated by the repetition
	local k=${#configs[@]} i
	for i in $(seq 0 $((k - 1))); do ceiling "$@" "${configs[$(((i + $3) % k))]}"; done
}

[ "$warmup" = 0 ] || ours "${models[0]}" fp32 0 # a warm file cache and model; not counted
# Bronze and silver for the gold stage alone; silver's texts are what the ceiling infers.
"$work/medallion" run --input "$work/raw" --lake "$work/silver-lake" --stages raw:bronze,bronze:silver --monitoring "$work/mon" >/dev/null
[ -f "$work/texts.json" ] || silver_texts "$work/silver-lake" "$work/texts.json"
for m in "${models[@]}"; do "$py" scripts/bench_ceiling.py "$m" "$work/texts.json" --write-ids "$work/ids-$(basename "$m").json"; done
gold() { [ "$gold_alone" = 0 ] || ours "$@" gold; }
for rep in $(seq 1 "$reps"); do
	for m in "${models[@]}"; do
		for p in "${precisions[@]}"; do
			if [ $((rep % 2)) = 1 ]; then
				ours "$m" $p "$rep"; gold "$m" $p "$rep"; ceilings "$m" $p "$rep"
			else
				ceilings "$m" $p "$rep"; gold "$m" $p "$rep"; ours "$m" $p "$rep"
			fi
			tail -n $((${#configs[@]} + 2)) "$results"
		done
	done
done
echo "== $(date -u +%F) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); N=$n tweets, $reps repetitions"
"$py" - "$results" <<'PY'
import collections, csv, statistics as st, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") if r["rep"] != "0"]
keys = sorted({(r["model"], r["precision"]) for r in rows})
def of(m, p, who):
    return [r for r in rows if (r["model"], r["precision"], r["who"]) == (m, p, who)]
def best(m, p):
    """The ceiling of each repetition: its fastest configuration."""
    c = [r for r in rows if (r["model"], r["precision"]) == (m, p) and r["who"].startswith("ceiling:")]
    return [max((r for r in c if r["rep"] == rep), key=lambda r: float(r["texts_per_s"])) for rep in sorted({r["rep"] for r in c})]
def med(v, fmt):
    return f"{fmt(st.median(v))} ({fmt(min(v))}–{fmt(max(v))})"
def rate(rs):
    return med([float(r["texts_per_s"]) for r in rs], lambda x: f"{x:.1f}")
def ratio(rs, c):
    v = [float(a["texts_per_s"]) / float(b["texts_per_s"]) for a in rs for b in c if a["rep"] == b["rep"]]
    return med(v, lambda x: f"{100*x:.0f}%")
def dofn(rs):
    v = [float(r["texts"]) / float(r["gold_dofn_s"]) for r in rs if r["gold_dofn_s"]]
    return med(v, lambda x: f"{x:.1f}") if v else ""
print("| model | precision | texts | best ceiling texts/s | its configuration | gold stage alone texts/s | gold / ceiling | whole pipeline texts/s | pipeline / ceiling | gold DoFn texts/s (our Go timing, diagnostic) |")
print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|")
for m, p in keys:
    c, g, o = best(m, p), of(m, p, "gold-stage"), of(m, p, "pipeline")
    wins = collections.Counter(r["who"][len("ceiling:"):] for r in c)
    gr = (rate(g), ratio(g, c)) if g else ("not run", "")
    print(f"| {m} | {p} | {o[0]['texts']} | {rate(c)} | {', '.join(f'{k} ({n}×)' for k, n in wins.most_common())} | {gr[0]} | {gr[1]} | {rate(o)} | {ratio(o, c)} | {dofn(o)} |")
print("texts/s: median (range) over the repetitions; ratios: median (range) of each repetition's ratio to that repetition's")
print("best configuration (HARNESS:THREADS:SESSIONS:BATCH; how often it was the best). The gold DoFn column: the pipeline's")
print("distinct texts over the time its gold DoFn reported, summed over bundles running in parallel: our own timing, not a ceiling.")
confs = sorted({r["who"][len("ceiling:"):] for r in rows if r["who"].startswith("ceiling:")})
print("\n| configuration | " + " | ".join(f"{m} {p}" for m, p in keys) + " |")
print("|---|" + "---:|" * len(keys))
for cf in confs:
    cells = []
    for m, p in keys:
        rs, c = of(m, p, "ceiling:" + cf), best(m, p)
        cells.append(f"{rate(rs)}, {ratio(rs, c)}" if rs else "")
    print(f"| {cf} | " + " | ".join(cells) + " |")
print("each configuration: texts/s, median (range), and its ratio to the best configuration of the same repetition.")
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
