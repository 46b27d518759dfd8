#!/usr/bin/env bash
# A local Flink cluster from the class path scripts/setup-runners.sh
# resolved: a JobManager and N TaskManagers, each a JVM of its own with its
# own working and temporary folders (one slot each, a fixed-delay restart
# strategy), and Beam's Flink job server submitting to it. Pipelines reach it
# with --runner=universal --endpoint=localhost:JOB_PORT.
#
#   scripts/cluster.sh flink up [--taskmanagers 2] [--job-port 8099] [--rest-port 8081] [--rpc-port 6123] [--dir D]
#   scripts/cluster.sh flink add-taskmanager [--dir D]
#   scripts/cluster.sh flink status [--dir D]
#   scripts/cluster.sh flink down [--dir D]
#
# D (default .cache/cluster/flink) holds the configuration, each process's
# folder, log and pid, and the process ids `down` stops. add-taskmanager
# starts one more TaskManager: to scale out, or as a supervisor would to
# replace one that died (Flink then restarts its jobs on the new slot). The same recipe on
# several hosts: docs/RUNNING.md, "A Flink cluster".
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
engine="${1:-}"
cmd="${2:-}"
[ "$engine" = flink ] || { echo "usage: cluster.sh flink up|status|down [flags] (Spark's standalone cluster: not yet)" >&2; exit 2; }
shift 2 || true
tms=2 job_port=8099 rest_port=8081 rpc_port=6123 dir="$here/.cache/cluster/flink"
while [ $# -gt 0 ]; do
	case "$1" in
	--taskmanagers) tms="$2"; shift 2 ;;
	--job-port) job_port="$2"; shift 2 ;;
	--rest-port) rest_port="$2"; shift 2 ;;
	--rpc-port) rpc_port="$2"; shift 2 ;;
	--dir) dir="$2"; shift 2 ;;
	*) echo "cluster.sh: unknown flag $1" >&2; exit 2 ;;
	esac
done

overview() { curl -fsS "http://localhost:$(cat "$dir/rest-port")/overview" 2>/dev/null; }

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
	overview || { echo "cluster.sh: the JobManager does not answer" >&2; exit 1; }
	echo
	exit 0 ;;
down) down; exit 0 ;;
up | add-taskmanager) ;;
*) echo "usage: cluster.sh flink up|add-taskmanager|status|down [flags]" >&2; exit 2 ;;
esac

cp="$here/.cache/runners/flink.classpath"
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
jobmanager.execution.failover-strategy: full
restart-strategy.type: fixed-delay
restart-strategy.fixed-delay.attempts: 10
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
opens=()
for p in java.lang java.lang.invoke java.lang.reflect java.io java.net java.nio java.util \
	java.util.concurrent java.util.concurrent.atomic sun.nio.ch sun.nio.cs sun.security.action sun.util.calendar; do
	opens+=("--add-opens=java.base/$p=ALL-UNNAMED")
done
start jobserver "${opens[@]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$classpath" org.apache.beam.runners.flink.FlinkJobServerDriver \
	--job-port="$job_port" --artifact-port=0 --expansion-port=0 --flink-master="localhost:$rest_port" --flink-conf-dir="$dir/conf"
wait_for "the job server (port $job_port)" "(exec 3<>/dev/tcp/localhost/$job_port) 2>/dev/null"
trap - ERR
echo "Flink cluster up: JobManager http://localhost:$rest_port, $tms TaskManagers, job server localhost:$job_port (scripts/cluster.sh flink down --dir $dir)"
