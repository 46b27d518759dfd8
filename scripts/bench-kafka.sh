#!/usr/bin/env bash
# Kafka source against its peer (docs/BENCHMARKS.md, "Kafka"): medallion's
# --input kafka:// and Spark Structured Streaming's Kafka source writing a
# Delta bronze with the course's logic (scripts/oracles/spark_kafka_bronze.py),
# on one broker of scripts/kafka.sh, in one sitting, interleaved, REPS times.
#  - throughput: BULK realistic tweets (one per message) in a 3-partition
#    topic, read whole: ours raw:bronze (the peer's work), ours the whole
#    chain with the demo model, and Spark's availableNow query. Wall time of
#    each command (JVM and Beam start-up included) and rows per second.
#  - latency: RATE messages a second for DURATION seconds into a fresh topic
#    while a stream runs (trigger TRIGGER), per message from the producer's
#    acknowledgement to its batch's bronze (and, ours, gold) commit, read
#    from each side's own offset records and Delta log by scripts/bench_kafka.py.
#   ./scripts/bench-kafka.sh     # env: REPS=3 BULK=20000 RATE=200 DURATION=30 TRIGGER=1
set -euo pipefail
cd "$(dirname "$0")/.."
REPS="${REPS:-3}" BULK="${BULK:-20000}" RATE="${RATE:-200}" DURATION="${DURATION:-30}" TRIGGER="${TRIGGER:-1}"
OUT="${OUT:-/tmp/bench-kafka}"
PORT="${PORT:-19192}"
./scripts/setup.sh >/dev/null
go build -ldflags="-s -w" -o .cache/bin/ ./pipelines/medallion ./scripts/gentweets
bin="$PWD/.cache/bin"
export ORT_LIB="$PWD/.cache/onnxruntime/libonnxruntime.so.1"
py=.cache/venv/bin/python
model="$PWD/testdata/models/tweet-sentiment-demo"
rm -rf "$OUT" && mkdir -p "$OUT"
trap './scripts/kafka.sh down --port "$PORT" --dir "$OUT/kafka" >/dev/null' EXIT
./scripts/kafka.sh up --port "$PORT" --dir "$OUT/kafka" >/dev/null
broker="127.0.0.1:$PORT"
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# REPS=$REPS BULK=$BULK RATE=$RATE DURATION=$DURATION TRIGGER=${TRIGGER}s"
"$bin/gentweets" --kafka "$broker/bulk" --tweets "$BULK" --profile realistic --seed 7 >/dev/null

wall() { local s e; s=$(date +%s.%N); "$@" >"$OUT/last.out" 2>"$OUT/last.err"; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN{printf "%.2f", e-s}'; }
# inner: the work without start-up (ours: the run summary's elapsed; Spark:
# the query's time, from its start to its end, without the JVM's start).
inner() {
	if [ "$1" = spark-bronze ]; then
		"$py" -c 'import json,sys; print("%.2f" % json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["seconds"])' "$OUT/last.out"
	else
		awk '/^  elapsed/ {print $2}' "$OUT/last.out"
	fi
}
echo "throughput rep system wall_s rows_per_s_wall inner"
for rep in $(seq 1 "$REPS"); do
	for sys in ours-bronze ours-chain spark-bronze; do
		d="$OUT/$sys-$rep" && rm -rf "$d"
		case "$sys" in
		ours-bronze) s=$(wall "$bin/medallion" run --input "kafka://$broker/bulk" --lake "$d" --stages raw:bronze) ;;
		ours-chain) s=$(wall "$bin/medallion" run --input "kafka://$broker/bulk" --lake "$d" --model "$model") ;;
		spark-bronze) s=$(wall "$py" scripts/oracles/spark_kafka_bronze.py "$broker" bulk "$d/bronze" "$d/checkpoint") ;;
		esac
		echo "throughput $rep $sys $s $(awk -v n="$BULK" -v s="$s" 'BEGIN{printf "%.0f", n/s}') $(inner "$sys")"
		rm -rf "$d"
	done
done

echo "latency rep system messages bronze_p50 bronze_p95 gold_p50 gold_p95"
n=$(awk -v r="$RATE" -v s="$DURATION" 'BEGIN{printf "%d", r*s}')
for rep in $(seq 1 "$REPS"); do
	for sys in ours spark; do
		topic="lat-$sys-$rep" d="$OUT/$sys-lat-$rep"
		"$bin/gentweets" --kafka "$broker/$topic" --tweets 0 >/dev/null # creates the topic
		if [ "$sys" = ours ]; then
			"$bin/medallion" stream --input "kafka://$broker/$topic" --lake "$d" --model "$model" --trigger "${TRIGGER}s" \
				--idle-timeout 20s --monitor 1h >"$OUT/stream.log" 2>&1 &
		else
			"$py" scripts/oracles/spark_kafka_bronze.py "$broker" "$topic" "$d/bronze" "$d/checkpoint" --trigger "$TRIGGER" --rows "$n" \
				>"$OUT/stream.log" 2>"$OUT/spark.err" &
		fi
		spid=$!
		sleep 15 # both are up and idle before the first message
		"$bin/gentweets" --kafka "$broker/$topic" --tweets "$n" --rate "$RATE" --profile realistic --seed "$rep" --acks "$OUT/acks.csv" >/dev/null
		wait "$spid"
		if [ "$sys" = ours ]; then
			"$py" scripts/bench_kafka.py ours "$OUT/acks.csv" "$d"
		else
			"$py" scripts/bench_kafka.py spark "$OUT/acks.csv" "$d/bronze" "$d/checkpoint"
		fi | "$py" -c '
import json, sys
r = json.load(sys.stdin); g = r.get("gold", {})
print("latency", sys.argv[1], sys.argv[2], r["messages"], r["bronze"]["p50"], r["bronze"]["p95"], g.get("p50", "-"), g.get("p95", "-"))' "$rep" "$sys"
		rm -rf "$d"
	done
done
