#!/usr/bin/env bash
# This CPU's fp32 FMA peak (scripts/fmapeak.c), one thread and all cores, five
# runs each (median and range): the physical limit in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -march=native -pthread -o "$work/fmapeak" scripts/fmapeak.c
for threads in 1 "$(nproc)"; do
	for _ in 1 2 3 4 5; do "$work/fmapeak" "$threads"; done |
		awk '{print $3}' | sort -n | awk -v t="$threads" '{v[NR]=$1} END {printf "%s thread(s): median %.1f GFLOP/s fp32 (range %.1f–%.1f)\n", t, v[3], v[1], v[5]}'
done
