#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft mode: one process is broker and
# controller) from the class path scripts/setup-runners.sh resolved, for the
# tests and for trying `medallion --input kafka://…` by hand:
#
#   scripts/kafka.sh up   [--port 9092] [--dir DIR] [--sasl-port P --sasl-user NAME:PASSWORD]
#   scripts/kafka.sh down [--port 9092] [--dir DIR]
#   scripts/kafka.sh status [--port 9092] [--dir DIR]
#
# DIR (default .cache/kafka/PORT) holds the broker's properties, log segments,
# log file and pid; `down` stops the broker and keeps DIR, so `up` again
# finds its topics. The controller listens on PORT+1. Topics are never
# created on first use (auto.create.topics.enable=false): a mistyped topic
# is an error, not a new empty topic. Messages may be up to 4 MiB.
# --sasl-port adds a SASL_PLAINTEXT listener with the PLAIN mechanism and
# one user (clients authenticate as NAME with PASSWORD).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:-}"
[ $# -gt 0 ] && shift
port=9092 dir="" saslport="" sasluser=""
while [ $# -gt 0 ]; do
	case "$1" in
	--port) port="$2"; shift 2 ;;
	--dir) dir="$2"; shift 2 ;;
	--sasl-port) saslport="$2"; shift 2 ;;
	--sasl-user) sasluser="$2"; shift 2 ;;
	*) echo "kafka.sh: unknown flag $1" >&2; exit 2 ;;
	esac
done
dir="${dir:-$here/.cache/kafka/$port}"
pidfile="$dir/kafka.pid"

running() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case "$cmd" in
up)
	cp="$here/.cache/runners/kafka.classpath"
	[ -s "$cp" ] || { echo "kafka.sh: $cp is missing: run scripts/setup-runners.sh" >&2; exit 1; }
	if running; then
		echo "kafka.sh: a broker already runs on port $port (pid $(cat "$pidfile"), $dir)"
		exit 0
	fi
	if listening "$port"; then
		echo "kafka.sh: port $port is taken by another process" >&2
		exit 1
	fi
	mkdir -p "$dir/data"
	cport=$((port + 1))
	listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
	advertised="PLAINTEXT://127.0.0.1:$port"
	protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
	sasl=""
	if [ -n "$saslport" ]; then
		[ -n "$sasluser" ] || { echo "kafka.sh: --sasl-port needs --sasl-user NAME:PASSWORD" >&2; exit 2; }
		user="${sasluser%%:*}" pass="${sasluser#*:}"
		listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$saslport"
		advertised="$advertised,SASL_PLAINTEXT://127.0.0.1:$saslport"
		protocols="$protocols,SASL_PLAINTEXT:SASL_PLAINTEXT"
		sasl="sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$user=\"$pass\";"
	fi
	cat >"$dir/server.properties" <<-EOF
	process.roles=broker,controller
	node.id=1
	controller.quorum.voters=1@127.0.0.1:$cport
	listeners=$listeners
	advertised.listeners=$advertised
	controller.listener.names=CONTROLLER
	inter.broker.listener.name=PLAINTEXT
	listener.security.protocol.map=$protocols
	log.dirs=$dir/data
	num.partitions=1
	auto.create.topics.enable=false
	offsets.topic.replication.factor=1
	transaction.state.log.replication.factor=1
	transaction.state.log.min.isr=1
	group.initial.rebalance.delay.ms=0
	message.max.bytes=4194304
	$sasl
	EOF
	java=(java -Xms256m -Xmx512m -Dorg.slf4j.simpleLogger.defaultLogLevel=${KAFKA_LOG_LEVEL:-warn} -cp "$(cat "$cp")")
	if [ ! -s "$dir/data/meta.properties" ]; then
		"${java[@]}" kafka.tools.StorageTool format -t "$("${java[@]}" kafka.tools.StorageTool random-uuid)" \
			-c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
			{ cat "$dir/format.log" >&2; exit 1; }
	fi
	setsid "${java[@]}" kafka.Kafka "$dir/server.properties" >"$dir/kafka.log" 2>&1 </dev/null &
	echo $! >"$pidfile"
	for _ in $(seq 1 120); do
		if listening "$port" && { [ -z "$saslport" ] || listening "$saslport"; }; then
			echo "kafka.sh: broker up on 127.0.0.1:$port (pid $(cat "$pidfile"), $dir)"
			exit 0
		fi
		running || { echo "kafka.sh: the broker exited; its log ($dir/kafka.log):" >&2; tail -20 "$dir/kafka.log" >&2; exit 1; }
		sleep 0.5
	done
	echo "kafka.sh: the broker did not listen on port $port within 60 s ($dir/kafka.log)" >&2
	exit 1
	;;
down)
	if ! running; then
		echo "kafka.sh: no broker runs on port $port ($dir)"
		exit 0
	fi
	pid="$(cat "$pidfile")"
	kill "$pid"
	for _ in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "kafka.sh: broker on port $port stopped"; exit 0; }
		sleep 0.5
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$pidfile"
	echo "kafka.sh: broker on port $port killed (it did not stop within 30 s)"
	;;
status)
	if running; then
		echo "kafka.sh: broker up on 127.0.0.1:$port (pid $(cat "$pidfile"), $dir)"
	else
		echo "kafka.sh: no broker on port $port ($dir)"
		exit 1
	fi
	;;
*)
	echo "usage: kafka.sh up|down|status [--port P] [--dir DIR] [--sasl-port P --sasl-user NAME:PASSWORD]" >&2
	exit 2
	;;
esac
