#!/usr/bin/env bash
# The Go benchmarks behind three tables of docs/BENCHMARKS.md, as printed
# there: the demo model's throughput by batch size (Inference batch size),
# raw → silver on the course-scale inputs (Ingestion; scripts/bench-course.sh
# makes them, PROFILE=realistic for the realistic ones), and reading a Delta
# snapshot as the log grows (Delta snapshots).
#   ./scripts/bench-go.sh [predict] [ingest] [snapshot]   # default: all three
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/bench-course}"
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(predict ingest snapshot)
for w in "${what[@]}"; do
	case "$w" in
	predict) go test -run '^$' -bench Predict -benchtime 3x -count 3 ./inference/ ;;
	ingest)
		for input in files100k-realistic files100-realistic files100k files100; do
			[ -d "$OUT/$input" ] || { echo "bench-go.sh: no $OUT/$input (run scripts/bench-course.sh, with PROFILE=realistic for the realistic inputs)" >&2; exit 1; }
			echo "== $input"
			BENCH_INPUT="$OUT/$input" go test -run '^$' -bench Ingest -benchtime 1x -count 3 ./pipelines/
		done
		;;
	snapshot) go test -count=5 -run '^$' -bench BenchmarkSnapshot -benchtime 100ms ./lake/ ;;
	*) echo "bench-go.sh: unknown benchmark $w (predict, ingest, snapshot)" >&2; exit 2 ;;
	esac
done
