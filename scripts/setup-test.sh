#!/usr/bin/env bash
# What the tests need beyond the demo's set-up (scripts/setup.sh, run first).
# Idempotent: a second run only checks. Everything lands in ignored folders:
#   .cache/venv                   Python with the reference implementations the
#                                 tests compare with (scripts/oracles/requirements.txt:
#                                 Spark + delta-spark, delta-rs, MLflow, Hugging Face
#                                 tokenizers, ONNX Runtime, scikit-learn)
#   .cache/optimum-export         Optimum's ONNX exporter (pinned apart: it needs an
#                                 older transformers)
#   .cache/ivy                    delta-spark's and Spark's Kafka connector's jars, from Maven Central
#   .cache/bin/staticcheck        static checks (honnef.co/go/tools)
#   .cache/bin/gotestsum          the Go test runner whose summary counts skips
#   .cache/bin/prism              Beam's standalone job server (portable-runner tests)
#   .cache/bin/beam-boot          Beam's Go boot program (PROCESS-environment workers)
#   .cache/bin/versitygw          an S3-compatible server (Apache-2.0) for the object-store tests
#   .cache/m2, .cache/runners     Beam's Flink and Spark job servers and Kafka's broker from Maven
#                                 Central (scripts/setup-runners.sh; the engine and Kafka tests run them)
#   scripts/duckdb/node_modules   DuckDB, an independent parquet reader
#   scripts/parity/node_modules   transformers.js, an independent tokenizer/model check
# and, from Debian's packages, chromium (renders the EDA report and the live page in
# checks) and prometheus with promtool (scrapes a stream's metrics in a test).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

CACHE=.cache
. scripts/setup-lib.sh
need node nodejs
need npm npm
need chromium chromium
need prometheus prometheus
need promtool prometheus
need java openjdk-17-jre-headless
need mvn maven
need python3 python3

say "Go modules"
go mod download

gobin() { # NAME PACKAGE@VERSION: go install into .cache/bin, once
	if [ ! -x "$CACHE/bin/$1" ]; then
		say "installing $1 ($2)"
		GOBIN="$PWD/$CACHE/bin" go install "$2"
	fi
}
gobin staticcheck honnef.co/go/tools/cmd/staticcheck@v0.8.2
gobin gotestsum gotest.tools/gotestsum@v1.13.0
# versitygw builds in its own module, so it adds nothing to ours.
gobin versitygw github.com/versity/versitygw/cmd/versitygw@v1.8.0
# prism and Beam's boot program, at the Beam version of our go.mod.
if [ ! -x "$CACHE/bin/prism" ]; then
	say "building the prism job server (github.com/apache/beam/sdks/v2/go/cmd/prism)"
	go build -o "$CACHE/bin/prism" github.com/apache/beam/sdks/v2/go/cmd/prism
fi
if [ ! -x "$CACHE/bin/beam-boot" ]; then
	say "building Beam's Go boot program (github.com/apache/beam/sdks/v2/go/container)"
	go build -o "$CACHE/bin/beam-boot" github.com/apache/beam/sdks/v2/go/container
fi

npmci scripts/duckdb "DuckDB (@duckdb/node-api)"
# transformers.js: its onnxruntime-node dependency would download CUDA
# libraries in postinstall; the CPU library ships inside the package.
npmci scripts/parity "transformers.js (@huggingface/transformers)"

# The Python oracles, pinned, in a virtual environment of their own. pip
# keeps no copy of the wheels it installs (--no-cache-dir): PyPI's torch
# brings about 4 GB of CUDA wheels that would otherwise sit on disk twice.
venv="$CACHE/venv"
req=scripts/oracles/requirements.txt
if [ ! -x "$venv/bin/python" ]; then
	say "creating $venv"
	python3 -m venv "$venv"
fi
if ! cmp -s "$req" "$venv/requirements.installed"; then
	say "installing the Python oracles ($req; a few minutes the first time)"
	"$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir -r "$req"
	cp "$req" "$venv/requirements.installed"
fi
# Optimum's ONNX exporter needs an older transformers than the oracles above:
# it is installed apart, without dependencies (see the requirements file).
opt=scripts/oracles/requirements-optimum-export.txt
if ! cmp -s "$opt" "$CACHE/optimum-export/requirements.installed"; then
	say "installing Optimum's ONNX exporter beside it ($opt)"
	rm -rf "$CACHE/optimum-export"
	"$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir --no-deps --target "$CACHE/optimum-export" -r "$opt"
	cp "$opt" "$CACHE/optimum-export/requirements.installed"
fi
# delta-spark's jars (and Spark's Ivy resolution of them) from Maven Central,
# fetched once so that tests run without a network.
if [ -f scripts/oracles/delta_compat.py ] && [ ! -f "$CACHE/ivy/.warm" ]; then
	say "fetching delta-spark's jars from Maven Central into $CACHE/ivy"
	"$venv/bin/python" scripts/oracles/delta_compat.py --warm
	touch "$CACHE/ivy/.warm"
fi
# Spark's Kafka connector (the peer of the Kafka source), the same way.
if [ ! -f "$CACHE/ivy/.warm-kafka" ]; then
	say "fetching Spark's Kafka connector from Maven Central into $CACHE/ivy"
	"$venv/bin/python" scripts/oracles/spark_kafka_bronze.py --warm >/dev/null
	touch "$CACHE/ivy/.warm-kafka"
fi
# Beam's Flink and Spark job servers, and Kafka's broker, as class paths from Maven Central.
./scripts/setup-runners.sh
say "done"
