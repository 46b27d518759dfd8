#!/usr/bin/env bash
# Beam's Flink and Spark job servers and Kafka's broker, resolved from Maven
# Central into .cache/m2 as class paths (.cache/runners/flink.classpath,
# spark.classpath, kafka.classpath) that scripts/jobserver.sh and
# scripts/kafka.sh run. The Maven projects in scripts/runners/ pin the
# versions and say why those. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-lib.sh
need java openjdk-17-jre-headless
need mvn maven
out=.cache/runners
mkdir -p "$out"
for r in flink spark kafka; do
	pom=scripts/runners/$r/pom.xml
	# Resolved before, from this pom, and its jars still where it says (the
	# paths are absolute: a moved or re-cloned folder resolves again).
	if [ -s "$out/$r.classpath" ] && [ "$out/$r.classpath" -nt "$pom" ] && [ -e "$(cut -d: -f1 "$out/$r.classpath")" ]; then
		continue
	fi
	say "resolving $r from Maven Central ($pom)"
	mvn -B -q -Dstyle.color=never -f "$pom" -Dmaven.repo.local="$PWD/.cache/m2" \
		dependency:build-classpath -Dmdep.outputFile="$PWD/$out/$r.classpath.tmp" >/dev/null
	mv "$out/$r.classpath.tmp" "$out/$r.classpath"
done
