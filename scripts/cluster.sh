#!/usr/bin/env bash
# A local Flink or Spark cluster from the class paths scripts/setup-runners.sh
# resolved, each process a JVM of its own with its own working and temporary
# folders, and Beam's job server submitting to it. Pipelines reach it with
# --runner=universal --endpoint=localhost:JOB_PORT.
#
# Flink: a JobManager and N TaskManagers (one slot each, a fixed-delay
# restart strategy).
#   scripts/cluster.sh flink up [--taskmanagers 2] [--job-port 8099] [--rest-port 8081] [--rpc-port 6123] [--dir D]
#   scripts/cluster.sh flink add-taskmanager [--dir D]
# Spark: a standalone Master and N Workers (one core and one executor each;
# Spark retries a failed task up to 4 times).
#   scripts/cluster.sh spark up [--workers 2] [--job-port 8099] [--master-port 7077] [--ui-port 8080] [--dir D]
#   scripts/cluster.sh spark add-worker [--dir D]
# Both:
#   scripts/cluster.sh flink|spark status [--dir D]
#   scripts/cluster.sh flink|spark down [--dir D]
#
# D (default .cache/cluster/ENGINE) holds the configuration, each process's
# folder, log and pid, and the process ids `down` stops. add-taskmanager and
# add-worker start one more: to scale out, or as a supervisor would to
# replace one that died. The same recipe on several hosts: docs/RUNNING.md,
# "A Flink or Spark cluster".
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
engine="${1:-}"
cmd="${2:-}"
case "$engine" in
flink | spark) ;;
*) echo "usage: cluster.sh flink|spark up|status|down [flags]" >&2; exit 2 ;;
esac
shift 2 || true
tms=2 job_port=8099 rest_port=8081 rpc_port=6123 master_port=7077 ui_port=8080 dir="$here/.cache/cluster/$engine"
while [ $# -gt 0 ]; do
	case "$1" in
	--taskmanagers | --workers) tms="$2"; shift 2 ;;
	--job-port) job_port="$2"; shift 2 ;;
	--rest-port) rest_port="$2"; shift 2 ;;
	--rpc-port) rpc_port="$2"; shift 2 ;;
	--master-port) master_port="$2"; shift 2 ;;
	--ui-port) ui_port="$2"; shift 2 ;;
	--dir) dir="$2"; shift 2 ;;
	*) echo "cluster.sh: unknown flag $1" >&2; exit 2 ;;
	esac
done

# overview: Flink's /overview, or the Spark Master's status (JSON).
overview() {
	if [ "$engine" = flink ]; then
		curl -fsS "http://localhost:$(cat "$dir/rest-port")/overview" 2>/dev/null
	else
		curl -fsS "http://localhost:$(cat "$dir/rest-port")/json/" 2>/dev/null
	fi
}

down() {
	[ -f "$dir/pids" ] || return 0
	local pids
	pids="$(cat "$dir/pids")"
	local p alive
	# Each JVM leads a process group (setsid) with the worker scripts it
	# started: they stop with it, and stop their workers.
	for p in $pids; do kill -- "-$p" 2>/dev/null || true; done
	for _ in $(seq 1 50); do # some may have died before (a killed TaskManager)
		alive=
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -n "$alive" ] || break
		sleep 0.2
	done
	for p in $pids; do kill -9 -- "-$p" 2>/dev/null || true; done
	rm -f "$dir/pids"
}

case "$cmd" in
status)
	[ -f "$dir/pids" ] || { echo "cluster.sh: no cluster in $dir" >&2; exit 1; }
	overview || { echo "cluster.sh: the $engine master does not answer" >&2; exit 1; }
	echo
	exit 0 ;;
down) down; exit 0 ;;
up | add-taskmanager | add-worker) ;;
*) echo "usage: cluster.sh flink|spark up|add-taskmanager|add-worker|status|down [flags]" >&2; exit 2 ;;
esac

cp="$here/.cache/runners/$engine.classpath"
[ -s "$cp" ] || { echo "cluster.sh: $cp is missing: run scripts/setup-runners.sh" >&2; exit 1; }
classpath="$(cat "$cp")"

# start NAME MAIN ARGS...: a JVM in its own folder, its output in NAME/out.log,
# its pid in NAME/pid; its temporary files, and those of the workers it
# starts (each stages a copy of the worker binary), in NAME/tmp.
start() {
	local name="$1"
	shift
	mkdir -p "$dir/$name/tmp"
	(cd "$dir/$name" && TMPDIR="$dir/$name/tmp" exec setsid java -Djava.io.tmpdir="$dir/$name/tmp" "$@" >"$dir/$name/out.log" 2>&1) &
	echo $! >>"$dir/pids"
	echo $! >"$dir/$name/pid"
}
wait_for() { # WHAT TEST: up to 60 s
	for _ in $(seq 1 300); do
		if eval "$2"; then return 0; fi
		sleep 0.2
	done
	echo "cluster.sh: $1 did not come up (logs in $dir)" >&2
	return 1
}
taskmanager() { # N: the Nth TaskManager (its resource id names it in Flink's REST API)
	start "taskmanager-$1" -Xmx640m -cp "$classpath" org.apache.flink.runtime.taskexecutor.TaskManagerRunner --configDir "$dir/conf" \
		-Dio.tmp.dirs="$dir/taskmanager-$1/tmp" -Dtaskmanager.resource-id="taskmanager-$1"
}

opens=()
for p in java.lang java.lang.invoke java.lang.reflect java.io java.net java.nio java.util \
	java.util.concurrent java.util.concurrent.atomic sun.nio.ch sun.nio.cs sun.security.action sun.util.calendar; do
	opens+=("--add-opens=java.base/$p=ALL-UNNAMED")
done

if [ "$engine" = spark ]; then
	# A Worker starts its executors with a Spark distribution's class path,
	# SPARK_HOME/jars: here the resolved jars, linked (see up).
	export SPARK_HOME="$dir/home" SPARK_SCALA_VERSION=2.12 SPARK_LOCAL_IP=127.0.0.1
	# worker N: the Nth Worker, one core and one executor, in its folder.
	worker() {
		start "worker-$1" "${opens[@]}" -Xmx512m -cp "$classpath" org.apache.spark.deploy.worker.Worker \
			--host localhost --cores 1 --memory 1536m --work-dir "$dir/worker-$1/work" --webui-port 0 \
			--properties-file "$dir/conf/spark-defaults.conf" "spark://localhost:$(cat "$dir/master-port")"
	}
	alive() { overview | grep -o '"aliveworkers" *: *[0-9]*' | grep -o '[0-9]*$' || echo 0; }
	if [ "$cmd" = add-worker ]; then
		[ -f "$dir/pids" ] || { echo "cluster.sh: no cluster in $dir" >&2; exit 1; }
		n=1
		while [ -d "$dir/worker-$n" ]; do n=$((n + 1)); done
		worker "$n"
		# Its own log, not the Master's count: the Master counts a Worker
		# just killed as alive until it notices.
		wait_for "Worker $n" "grep -q 'Successfully registered with master' '$dir/worker-$n/out.log'"
		echo "Worker $n up (pid $(cat "$dir/worker-$n/pid"))"
		exit 0
	fi
	[ "$cmd" = up ] || { echo "usage: cluster.sh spark up|add-worker|status|down [flags]" >&2; exit 2; }
	[ ! -f "$dir/pids" ] || { echo "cluster.sh: a cluster from $dir may still run: scripts/cluster.sh spark down --dir $dir" >&2; exit 1; }
	rm -rf "$SPARK_HOME" && mkdir -p "$SPARK_HOME/jars" "$dir/conf"
	tr ':' '\n' <"$cp" | while read -r jar; do [ -z "$jar" ] || ln -sf "$jar" "$SPARK_HOME/jars/"; done
	echo "$ui_port" >"$dir/rest-port"
	echo "$master_port" >"$dir/master-port"
	# Each application (a job) stages the job server's jars, 300 MB, into
	# its executors' folders: a Worker removes those of finished ones.
	printf '%s\n' "spark.worker.cleanup.enabled true" "spark.worker.cleanup.interval 30" "spark.worker.cleanup.appDataTtl 30" \
		"spark.executor.memory 1g" >"$dir/conf/spark-defaults.conf"
	: >"$dir/pids"
	trap 'echo "cluster.sh: start-up failed; stopping what started (logs in $dir)" >&2; down' ERR
	start master "${opens[@]}" -Xmx512m -cp "$classpath" org.apache.spark.deploy.master.Master \
		--host localhost --port "$master_port" --webui-port "$ui_port" --properties-file "$dir/conf/spark-defaults.conf"
	wait_for "the Master (UI port $ui_port)" 'overview >/dev/null'
	for i in $(seq 1 "$tms"); do
		worker "$i"
	done
	wait_for "$tms Workers" '[ "$(alive)" = "$tms" ]'
	# spark.task.maxFailures: a cluster retries a failed task (local[N] does not).
	start jobserver "${opens[@]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dspark.task.maxFailures=4 -cp "$classpath" \
		org.apache.beam.runners.spark.SparkJobServerDriver \
		--job-port="$job_port" --artifact-port=0 --expansion-port=0 --spark-master-url="spark://localhost:$master_port"
	wait_for "the job server (port $job_port)" "(exec 3<>/dev/tcp/localhost/$job_port) 2>/dev/null"
	trap - ERR
	echo "Spark cluster up: Master spark://localhost:$master_port (UI http://localhost:$ui_port), $tms Workers, job server localhost:$job_port (scripts/cluster.sh spark down --dir $dir)"
	exit 0
fi

if [ "$cmd" = add-taskmanager ]; then
	[ -f "$dir/pids" ] || { echo "cluster.sh: no cluster in $dir" >&2; exit 1; }
	n=1
	while [ -d "$dir/taskmanager-$n" ]; do n=$((n + 1)); done
	taskmanager "$n"
	wait_for "TaskManager $n" "curl -fsS http://localhost:$(cat "$dir/rest-port")/taskmanagers 2>/dev/null | grep -q '\"taskmanager-$n\"'"
	echo "TaskManager $n up (pid $(cat "$dir/taskmanager-$n/pid"))"
	exit 0
fi

[ ! -f "$dir/pids" ] || { echo "cluster.sh: a cluster from $dir may still run: scripts/cluster.sh flink down --dir $dir" >&2; exit 1; }
mkdir -p "$dir/conf"
echo "$rest_port" >"$dir/rest-port"
# The memory a TaskManager's start script would compute, given whole.
cat >"$dir/conf/flink-conf.yaml" <<EOF
jobmanager.rpc.address: localhost
jobmanager.rpc.port: $rpc_port
jobmanager.bind-host: localhost
jobmanager.memory.process.size: 1024m
rest.address: localhost
rest.bind-address: localhost
rest.port: $rest_port
taskmanager.host: localhost
taskmanager.bind-host: localhost
taskmanager.numberOfTaskSlots: 1
taskmanager.cpu.cores: 1
taskmanager.memory.task.heap.size: 512m
taskmanager.memory.task.off-heap.size: 0m
taskmanager.memory.network.min: 256m
taskmanager.memory.network.max: 256m
taskmanager.memory.managed.size: 128m
taskmanager.memory.framework.heap.size: 128m
taskmanager.memory.framework.off-heap.size: 128m
taskmanager.memory.jvm-metaspace.size: 256m
taskmanager.memory.jvm-overhead.min: 192m
taskmanager.memory.jvm-overhead.max: 192m
parallelism.default: $tms
# Classes come from the TaskManager's class path (the job server's): a job's class
# loader, closed when the job ends, would leave the SDK workers of its last
# stages running (Beam cannot close their environments then).
classloader.resolve-order: parent-first
jobmanager.execution.failover-strategy: full
restart-strategy.type: fixed-delay
restart-strategy.fixed-delay.attempts: 4
restart-strategy.fixed-delay.delay: 3 s
heartbeat.interval: 2000
heartbeat.timeout: 20000
EOF
: >"$dir/pids"
trap 'echo "cluster.sh: start-up failed; stopping what started (logs in $dir)" >&2; down' ERR

start jobmanager -cp "$classpath" org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint --configDir "$dir/conf"
wait_for "the JobManager (REST port $rest_port)" 'overview >/dev/null'
for i in $(seq 1 "$tms"); do
	taskmanager "$i"
done
wait_for "$tms TaskManagers" "overview | grep -q '\"taskmanagers\":$tms,'"
start jobserver "${opens[@]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$classpath" org.apache.beam.runners.flink.FlinkJobServerDriver \
	--job-port="$job_port" --artifact-port=0 --expansion-port=0 --flink-master="localhost:$rest_port" --flink-conf-dir="$dir/conf"
wait_for "the job server (port $job_port)" "(exec 3<>/dev/tcp/localhost/$job_port) 2>/dev/null"
trap - ERR
echo "Flink cluster up: JobManager http://localhost:$rest_port, $tms TaskManagers, job server localhost:$job_port (scripts/cluster.sh flink down --dir $dir)"
