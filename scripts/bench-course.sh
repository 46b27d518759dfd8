#!/usr/bin/env bash
# End-to-end benchmark at the course's scale: the whole pipeline (listing,
# bronze, silver, quarantine, gold, application) in one medallion process on
# prism, default flags, into an empty lake, RUNS times per case. Prints one
# line per run (wall, user, sys, peak RSS, and the gold stage's own time from
# the run's metrics) and appends them to $OUT/results.tsv.
#
#   ./scripts/bench-course.sh                       # demo model, 100,000 one-tweet files
#   MODELS="demo distilbert-size roberta-size" ./scripts/bench-course.sh
#   INPUTS="files100" ./scripts/bench-course.sh     # the same tweets in 100 files
#   EXTRA="--quantized" MODELS=distilbert-size ./scripts/bench-course.sh
#   PROFILE=realistic MODELS="distilbert-size roberta-size" ./scripts/bench-course.sh
#                                                   # Sentiment140-shaped tweets
#   INPUTS="files100 files1M" ...                   # 100k and 1M tweets, 1,000 a file
#
# distilbert-size and roberta-size come from scripts/make-bench-models.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
MODELS="${MODELS:-demo}"
INPUTS="${INPUTS:-files100k}"
OUT="${OUT:-/tmp/bench-course}"
EXTRA="${EXTRA:-}"
PROFILE="${PROFILE:-short}" # gentweets --profile; realistic inputs get their own folders
suffix=""
[ "$PROFILE" = short ] || suffix="-$PROFILE"
mkdir -p "$OUT"

bin="$PWD/.cache/bin/medallion-bench"
CGO_ENABLED=1 go build -o "$bin" ./pipelines/medallion

# The course's 2025 data: one JSON object per file; and the same tweets in 100 files.
if [ ! -d "$OUT/files100k$suffix" ]; then
	go run ./scripts/gentweets --out "$OUT/files100k$suffix" --tweets 100000 --seed 100 --profile "$PROFILE" >/dev/null
fi
if [ ! -d "$OUT/files100$suffix" ]; then
	go run ./scripts/gentweets --out "$OUT/files100$suffix" --tweets 100000 --per-file 1000 --format ndjson --seed 100 --profile "$PROFILE" >/dev/null
fi
# A million tweets in 1,000 files, only when asked for (INPUTS="files100 files1M"): peak RSS against 100k.
if [[ " $INPUTS " == *" files1M "* ]] && [ ! -d "$OUT/files1M$suffix" ]; then
	go run ./scripts/gentweets --out "$OUT/files1M$suffix" --tweets 1000000 --per-file 1000 --format ndjson --seed 100 --profile "$PROFILE" >/dev/null
fi

model_dir() {
	case "$1" in
	demo) echo "$PWD/testdata/models/tweet-sentiment-demo" ;;
	*) echo "$PWD/.cache/bench-models/$1" ;;
	esac
}

printf '%-10s %-16s %-12s %3s %9s %9s %8s %10s %9s\n' input model flags run wall_s user_s sys_s peak_rss_kb gold_s
for input in $INPUTS; do
	name="$input$suffix" # the folder under $OUT
	for m in $MODELS; do
		dir="$(model_dir "$m")"
		[ -f "$dir/onnx/model.onnx" ] || { echo "no model at $dir (run scripts/make-bench-models.sh)" >&2; exit 1; }
		for run in $(seq 1 "$RUNS"); do
			lake="$OUT/lake-$name-$m"
			rm -rf "$lake"
			log="$OUT/log-$name-$m${EXTRA// /}-$run.txt"
			/usr/bin/time -f "%e %U %S %M" -o "$OUT/time.txt" \
				"$bin" run --input "$OUT/$name" --lake "$lake" --model "$dir" $EXTRA >"$log" 2>&1
			read -r wall user sys rss <"$OUT/time.txt"
			gold_ms="$(sed -n 's/.*gold_stream .*processing time *\([0-9.]*\) ms.*/\1/p' "$log" | tail -1)"
			gold_s="$(awk -v ms="${gold_ms:-0}" 'BEGIN { printf "%.2f", ms / 1000 }')"
			flags="${EXTRA:--}"
			printf '%-10s %-16s %-12s %3s %9s %9s %8s %10s %9s\n' "$name" "$m" "$flags" "$run" "$wall" "$user" "$sys" "$rss" "$gold_s"
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$m" "$flags" "$run" "$wall" "$user" "$sys" "$rss" "$gold_s" >>"$OUT/results.tsv"
		done
	done
done
