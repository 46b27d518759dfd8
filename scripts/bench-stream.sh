#!/usr/bin/env bash
# Streaming latency and throughput (docs/BENCHMARKS.md, "Streaming"): the
# streaming job (--mode stream) against the micro-batch loop (--micro-batch),
# interleaved, REPS times each, with the demo model, on each of RUNNERS:
# prism in process, and Flink (Beam's job server, its mini cluster in the
# job server's JVM, workers in processes it starts; scripts/setup-test.sh).
#  - latency: WAVES waves of PER_WAVE one-tweet files (realistic profile),
#    moved into the watched folder GAP seconds apart; each wave's latency is
#    from its landing to the gold commit holding its last file.
#  - throughput: BULK tweets (files of 100) landing at once; gold rows per
#    second from the landing to the last gold commit.
# Both are read from the lake by scripts/stream_latency.py, which parses the
# Delta log and the batch plans itself.
#   ./scripts/bench-stream.sh      # env: REPS=3 WAVES=8 PER_WAVE=200 GAP=3 TRIGGER=1s BULK=20000 RUNNERS=prism
#   RUNNERS="prism flink" REPS=2 WAVES=4 GAP=20 BATCH_BYTES=1048576 ./scripts/bench-stream.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPS="${REPS:-3}" WAVES="${WAVES:-8}" PER_WAVE="${PER_WAVE:-200}" GAP="${GAP:-3}" TRIGGER="${TRIGGER:-1s}" BULK="${BULK:-20000}"
RUNNERS="${RUNNERS:-prism}"
BATCH_BYTES="${BATCH_BYTES:-0}" # --max-batch-bytes (0: the command's default, 8 MiB)
OUT="${OUT:-/tmp/bench-stream}"
./scripts/setup.sh >/dev/null
go build -ldflags="-s -w" -o .cache/bin/ ./pipelines/medallion ./scripts/gentweets
bin="$PWD/.cache/bin"
export ORT_LIB="$PWD/.cache/onnxruntime/libonnxruntime.so.1" BEAM_BOOT="$PWD/.cache/bin/beam-boot"
py=.cache/venv/bin/python
[ -x "$py" ] || py=python3
model="$PWD/testdata/models/tweet-sentiment-demo"
rm -rf "$OUT" && mkdir -p "$OUT"
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# REPS=$REPS WAVES=$WAVES PER_WAVE=$PER_WAVE GAP=$GAP TRIGGER=$TRIGGER BULK=$BULK RUNNERS=$RUNNERS BATCH_BYTES=$BATCH_BYTES"

# Flink's job server runs for the whole sitting, as a cluster's would.
pids=()
trap 'for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done' EXIT
if [[ " $RUNNERS " == *" flink "* ]]; then
	mkdir -p "$OUT/flink-tmp"
	JAVA_OPTS="-Djava.io.tmpdir=$OUT/flink-tmp" setsid ./scripts/jobserver.sh flink --job-port 18310 --parallelism 2 \
		--artifacts-dir "$OUT/flink-artifacts" >"$OUT/flink-jobserver.log" 2>&1 &
	pids+=($!)
	until (exec 3<>/dev/tcp/127.0.0.1/18310) 2>/dev/null; do sleep 1; done
fi

# stream RUNNER ENGINE DIR: runs the stream on DIR/in into DIR/lake until idle.
stream() {
	local flags=()
	[ "$2" = micro-batch ] && flags=(--micro-batch)
	[ "$BATCH_BYTES" != 0 ] && flags+=(--max-batch-bytes "$BATCH_BYTES")
	[ "$1" = flink ] && flags+=(--shared-paths --runner=universal --endpoint=localhost:18310 --parallelism=2
		--environment_type=PROCESS --environment_config="{\"command\":\"$PWD/scripts/process-worker.sh\"}"
		--worker_binary="$bin/medallion")
	"$bin/medallion" stream --input "$3/in" --lake "$3/lake" --model "$model" --trigger "$TRIGGER" \
		--idle-timeout "$((GAP + 8))s" --monitor 1h "${flags[@]}" >"$3/stream.log" 2>&1
}

# land DIR WAVE FIRST N PER_FILE: generates N tweets aside, then moves them into DIR/in
# and records the landing.
land() {
	local stage="$1/stage$2"
	"$bin/gentweets" --out "$stage" --tweets "$4" --per-file "$5" --format ndjson --first "$3" --seed "$((100 + $2))" --profile realistic >/dev/null
	local files=("$stage"/*)
	local at
	at=$(date +%s%3N)
	mv "${files[@]}" "$1/in/"
	echo "$2 $at ${files[*]##*/}" >>"$1/landings"
}

# wait_running DIR: until the stream's heartbeat says it runs (prism started).
wait_running() {
	for _ in $(seq 600); do
		grep -q '"running"' "$1/lake/_control/stream.json" 2>/dev/null && return
		sleep 0.1
	done
	echo "bench-stream.sh: the stream in $1 did not start" >&2
	exit 1
}

for rep in $(seq "$REPS"); do
	for runner in $RUNNERS; do
		for engine in job micro-batch; do
			d="$OUT/latency-$runner-$engine-$rep"
			mkdir -p "$d/in"
			stream "$runner" "$engine" "$d" &
			pid=$!
			wait_running "$d"
			for w in $(seq "$WAVES"); do
				land "$d" "$w" "$((w * 10000))" "$PER_WAVE" 1
				sleep "$GAP"
			done
			wait "$pid"
			echo "latency $runner $engine rep $rep $("$py" scripts/stream_latency.py "$d/lake" "$d/landings")"

			d="$OUT/bulk-$runner-$engine-$rep"
			mkdir -p "$d/in"
			stream "$runner" "$engine" "$d" &
			pid=$!
			wait_running "$d"
			land "$d" 1 0 "$BULK" 100
			wait "$pid"
			echo "bulk $runner $engine rep $rep $("$py" scripts/stream_latency.py "$d/lake" "$d/landings")"
			rm -rf "$OUT"/*-"$runner"-"$engine"-"$rep"/lake/{bronze,silver,quarantine} # keep the disk free
		done
	done
done
