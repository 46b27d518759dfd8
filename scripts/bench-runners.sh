#!/usr/bin/env bash
# The course-scale run on three runners, interleaved, in one sitting: prism in
# process, Beam's Flink job server (Flink's mini cluster) and Beam's Spark job
# server (local[2]), each with its workers in processes the job server starts.
# Same input, model and flags everywhere; an empty lake each run. Prints one
# line per run and appends them to $OUT/results.tsv.
#
#   ./scripts/bench-runners.sh                          # 3 rounds, distilbert-size, 100,000 one-tweet files
#   ROUNDS=1 TWEETS=10000 MODEL=demo ./scripts/bench-runners.sh
#   PROFILE=realistic EXTRA=--quantized ./scripts/bench-runners.sh   # Sentiment140-shaped tweets, int8
#
# Needs scripts/setup-test.sh (job servers, boot program) and, for the
# base-size model, scripts/make-bench-models.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-3}"
TWEETS="${TWEETS:-100000}"
MODEL="${MODEL:-distilbert-size}"
OUT="${OUT:-/tmp/bench-runners}"
RUNNERS="${RUNNERS:-prism flink spark}"
PROFILE="${PROFILE:-short}" # gentweets --profile
read -r -a extra <<<"${EXTRA:-}"
. scripts/bench-lib.sh
bench_prepare

# The job servers run for the whole sitting, as a cluster's would; their
# start-up is not measured, each job's is.
# Beam's boot program leaves a copy of the worker binary in /tmp/binNNN per
# worker process; the job servers' are removed with them.
touch "$OUT/started"
pids=()
trap 'for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done
	find /tmp -maxdepth 1 -name "bin*" -newer "$OUT/started" -exec rm -rf {} +' EXIT
port=18300
declare -A endpoint
for r in $RUNNERS; do
	[ "$r" = prism ] && continue
	port=$((port + 1))
	mkdir -p "$OUT/$r-tmp"
	JAVA_OPTS="-Djava.io.tmpdir=$OUT/$r-tmp" setsid ./scripts/jobserver.sh "$r" --job-port "$port" --parallelism 2 \
		--artifacts-dir "$OUT/$r-artifacts" >"$OUT/$r-jobserver.log" 2>&1 &
	pids+=($!)
	endpoint[$r]="localhost:$port"
done
for r in "${!endpoint[@]}"; do
	until (exec 3<>"/dev/tcp/127.0.0.1/${endpoint[$r]#localhost:}") 2>/dev/null; do sleep 1; done
done

common=(--input "$input" --model "$model" --shards 2 "${extra[@]}")
printf '%-6s %-16s %6s %3s %9s %9s %8s %9s\n' runner model tweets run wall_s user_s sys_s gold_rows
for round in $(seq 1 "$ROUNDS"); do
	for r in $RUNNERS; do
		lake="$OUT/lake-$r"
		rm -rf "$lake"
		flags=()
		if [ "$r" != prism ]; then
			flags=(--shared-paths --runner=universal --endpoint="${endpoint[$r]}" --parallelism=2
				--environment_type=PROCESS --environment_config="{\"command\":\"$PWD/scripts/process-worker.sh\"}"
				--worker_binary="$bin")
		fi
		log="$OUT/log-$r-$round.txt"
		# user and sys CPU count this process and its children: the workers
		# of a job server are its children, not ours, so only wall is comparable.
		/usr/bin/time -f "%e %U %S" -o "$OUT/time.txt" "$bin" run "${common[@]}" --lake "$lake" "${flags[@]}" >"$log" 2>&1
		read -r wall user sys <"$OUT/time.txt"
		gold="$(sed -n 's/^  gold rows *\([0-9,]*\).*/\1/p' "$log" | tail -1)"
		printf '%-6s %-16s %6s %3s %9s %9s %8s %9s\n' "$r" "$MODEL" "$TWEETS" "$round" "$wall" "$user" "$sys" "$gold"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$MODEL" "$TWEETS" "$round" "$wall" "$user" "$sys" "$gold" >>"$OUT/results.tsv"
	done
done
