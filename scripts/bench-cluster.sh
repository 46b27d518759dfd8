#!/usr/bin/env bash
# Scaling on a Flink cluster of separate processes (scripts/cluster.sh): the
# same batch job with 1 and with 2 TaskManagers (one slot each, one Go worker
# per slot, one ONNX Runtime thread per worker), interleaved in one sitting,
# the order alternating by round. Each run gets a fresh cluster and an empty
# lake; the cluster's start-up is not measured, the command's wall time and
# Flink's job duration are. Gold's shards are the command's default on a job
# server (4 × --parallelism), so that they spread over the TaskManagers.
# Prints one line per run and appends them to $OUT/results.tsv.
#
#   ./scripts/bench-cluster.sh                               # 3 rounds, 100,000 realistic tweets, distilbert-size int8
#   ROUNDS=1 TWEETS=5000 MODEL=demo ./scripts/bench-cluster.sh
#
# Needs scripts/setup-test.sh (the Flink class path, the boot program) and
# scripts/make-bench-models.sh for the base-size model.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-3}"
TWEETS="${TWEETS:-100000}"
MODEL="${MODEL:-distilbert-size}"
OUT="${OUT:-/tmp/bench-cluster}"
PROFILE="${PROFILE:-realistic}"
read -r -a extra <<<"${EXTRA:---quantized}"
. scripts/bench-lib.sh
bench_prepare

cluster="$OUT/cluster"
trap './scripts/cluster.sh flink down --dir "$cluster" >/dev/null 2>&1 || true' EXIT
rest=18481
printf '%-5s %3s %-16s %7s %8s %9s %9s %13s\n' round tms model tweets wall_s flink_s gold_rows model_workers
for round in $(seq 1 "$ROUNDS"); do
	order="1 2"
	[ $((round % 2)) -eq 1 ] || order="2 1"
	for tms in $order; do
		./scripts/cluster.sh flink down --dir "$cluster" >/dev/null 2>&1 || true
		rm -rf "$cluster" "$OUT/lake"
		./scripts/cluster.sh flink up --taskmanagers "$tms" --dir "$cluster" --job-port 18499 --rest-port "$rest" --rpc-port 18423 >/dev/null
		log="$OUT/log-$round-$tms.txt"
		/usr/bin/time -f "%e" -o "$OUT/time.txt" "$bin" run --input "$input" --model "$model" --lake "$OUT/lake" \
			--inference-threads 1 "${extra[@]}" --shared-paths --runner=universal --endpoint=localhost:18499 --parallelism="$tms" \
			--environment_type=PROCESS --environment_config="{\"command\":\"$PWD/scripts/process-worker.sh\"}" \
			--worker_binary="$bin" --job-option sdk_worker_parallelism=1 >"$log" 2>&1
		wall="$(cat "$OUT/time.txt")"
		flink="$(curl -fsS "http://localhost:$rest/jobs/overview" | python3 -c 'import json,sys; print(round(sum(j["duration"] for j in json.load(sys.stdin)["jobs"])/1000, 1))')"
		gold="$(sed -n 's/^  gold rows *\([0-9,]*\).*/\1/p' "$log" | tail -1)"
		# Worker processes that ran the model, over the run's jobs (a batch each).
		ran="$(sed -n 's/.*, \([0-9]*\) ran the model.*/\1/p' "$log" | tail -1)"
		printf '%-5s %3s %-16s %7s %8s %9s %9s %13s\n' "$round" "$tms" "$MODEL" "$TWEETS" "$wall" "$flink" "$gold" "$ran"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$tms" "$MODEL" "$TWEETS" "$wall" "$flink" "$gold" >>"$OUT/results.tsv"
	done
done
./scripts/cluster.sh flink down --dir "$cluster" >/dev/null
python3 - "$OUT/results.tsv" "$ROUNDS" <<'EOF'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l][-2 * int(sys.argv[2]):]
by = {}
for r in rows:
    by.setdefault(r[0], {})[r[1]] = float(r[4])
ratios = sorted(v["1"] / v["2"] for v in by.values() if "1" in v and "2" in v)
one = [v["1"] for v in by.values()]; two = [v["2"] for v in by.values()]
print(f"1 TaskManager: median {statistics.median(one):.1f} s ({min(one):.1f}-{max(one):.1f}); "
      f"2: median {statistics.median(two):.1f} s ({min(two):.1f}-{max(two):.1f}); "
      f"speed-up 1->2 per round: median {statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})")
EOF
