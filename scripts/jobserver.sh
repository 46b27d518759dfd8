#!/usr/bin/env bash
# Runs Beam's Flink or Spark job server with the engine in its own JVM
# (Flink's [local] mini cluster, Spark's local[N]), from the class paths
# scripts/setup-runners.sh resolved:
#
#   scripts/jobserver.sh flink --job-port 8099 [--parallelism N] [more driver flags]
#   scripts/jobserver.sh spark --job-port 8099 [--parallelism N] [more driver flags]
#
# Pipelines reach it with --runner=universal --endpoint=localhost:PORT. Extra
# flags go to the driver (FlinkJobServerDriver / SparkJobServerDriver): a real
# cluster's --flink-master=HOST:PORT or --spark-master-url=spark://HOST:PORT
# replaces the local engine. Java options come from JAVA_OPTS.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
engine="${1:?usage: jobserver.sh flink|spark [--job-port N] [--parallelism N] [driver flags]}"
shift
cp="$here/.cache/runners/$engine.classpath"
[ -s "$cp" ] || { echo "jobserver.sh: $cp is missing: run scripts/setup-runners.sh" >&2; exit 1; }
parallelism=2
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--parallelism) parallelism="$2"; shift 2 ;;
	--parallelism=*) parallelism="${1#*=}"; shift ;;
	*) args+=("$1"); shift ;;
	esac
done
# Spark on Java 17 needs these packages opened (as spark-submit does).
opens=()
for p in java.lang java.lang.invoke java.lang.reflect java.io java.net java.nio java.util \
	java.util.concurrent java.util.concurrent.atomic sun.nio.ch sun.nio.cs sun.security.action sun.util.calendar; do
	opens+=("--add-opens=java.base/$p=ALL-UNNAMED")
done
log="-Dorg.slf4j.simpleLogger.defaultLogLevel=${JOBSERVER_LOG_LEVEL:-warn}"
case "$engine" in
flink)
	main=org.apache.beam.runners.flink.FlinkJobServerDriver
	# The mini cluster's task slots and default parallelism, from a Flink
	# configuration of our own (--flink-conf-dir).
	conf="$here/.cache/runners/flink-conf-$parallelism"
	mkdir -p "$conf"
	printf 'taskmanager.numberOfTaskSlots: %s\nparallelism.default: %s\n' "$parallelism" "$parallelism" >"$conf/flink-conf.yaml"
	engineArgs=(--flink-master="[local]" --flink-conf-dir="$conf")
	;;
spark)
	main=org.apache.beam.runners.spark.SparkJobServerDriver
	engineArgs=(--spark-master-url="local[$parallelism]")
	;;
*) echo "jobserver.sh: engine $engine: want flink or spark" >&2; exit 2 ;;
esac
exec java "${opens[@]}" "$log" ${JAVA_OPTS:-} -cp "$(cat "$cp")" "$main" \
	--artifact-port=0 --expansion-port=0 "${engineArgs[@]}" "${args[@]}"
