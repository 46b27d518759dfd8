#!/usr/bin/env bash
# Installs what the project needs on a fresh machine. Idempotent: a second run
# only checks. Everything lands in ignored folders of the repository:
#   .cache/onnxruntime/libonnxruntime.so.1   ONNX Runtime (from npm onnxruntime-node)
#   .cache/bin/staticcheck                   static checks (honnef.co/go/tools)
#   .cache/bin/prism                         Beam's standalone job server (portable-runner test)
#   .cache/bin/beam-boot                     Beam's Go boot program (starts PROCESS-environment workers)
#   .cache/bin/versitygw                     an S3-compatible server (Apache-2.0) for the object-store tests
#   scripts/duckdb/node_modules              DuckDB, the independent table reader for tests
#   scripts/parity/node_modules              transformers.js, the independent tokenizer/model check
# and, from Debian's packages: chromium (renders the EDA report in a check)
# and python3-sklearn (the independent check of the logged metrics).
# Set ORT_LIB=/path/to/libonnxruntime.so to use an ONNX Runtime you installed.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.30.0
CACHE=.cache
say() { printf 'setup: %s\n' "$*"; }
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
		say "installing $2 with apt-get"
		apt-get update -qq >/dev/null && apt-get install -y -qq "$2" >/dev/null
	else
		say "missing $1: install $2 and run again" >&2
		exit 1
	fi
}

need go golang-go
need node nodejs
need npm npm
need chromium chromium
if ! /usr/bin/python3 -c "import sklearn" >/dev/null 2>&1; then
	if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
		say "installing python3-sklearn with apt-get"
		apt-get update -qq >/dev/null && apt-get install -y -qq python3-sklearn >/dev/null
	else
		say "missing scikit-learn for /usr/bin/python3: install python3-sklearn" >&2
		exit 1
	fi
fi

say "Go modules"
go mod download

# ONNX Runtime: the shared library ships inside the onnxruntime-node npm package.
ort_dir="$CACHE/onnxruntime"
if [ -n "${ORT_LIB:-}" ]; then
	say "ONNX Runtime from ORT_LIB=$ORT_LIB"
elif [ -f "$ort_dir/libonnxruntime.so.1" ] && [ "$(cat "$ort_dir/VERSION" 2>/dev/null)" = "$ORT_VERSION" ]; then
	say "ONNX Runtime $ORT_VERSION already in $ort_dir"
else
	case "$(uname -s)/$(uname -m)" in
	Linux/x86_64) ort_path=linux/x64 ;;
	Linux/aarch64) ort_path=linux/arm64 ;;
	*) say "no bundled ONNX Runtime for $(uname -s)/$(uname -m): install one and set ORT_LIB" >&2; exit 1 ;;
	esac
	say "fetching ONNX Runtime $ORT_VERSION (npm onnxruntime-node)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack "onnxruntime-node@$ORT_VERSION" --silent >/dev/null)
	tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" "package/bin/napi-v6/$ort_path/libonnxruntime.so.1"
	mkdir -p "$ort_dir"
	mv "$tmp/package/bin/napi-v6/$ort_path/libonnxruntime.so.1" "$ort_dir/"
	echo "$ORT_VERSION" >"$ort_dir/VERSION"
fi

# staticcheck, pinned, into the cache (the test command runs it).
if [ ! -x "$CACHE/bin/staticcheck" ]; then
	say "installing staticcheck (honnef.co/go/tools)"
	GOBIN="$PWD/$CACHE/bin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

# The standalone prism job server (the job API Flink's and Spark's job
# servers speak), for the portable-runner test and docs/RUNNING.md.
if [ ! -x "$CACHE/bin/prism" ]; then
	say "building the prism job server (github.com/apache/beam/sdks/v2/go/cmd/prism)"
	go build -o "$CACHE/bin/prism" github.com/apache/beam/sdks/v2/go/cmd/prism
fi

# Beam's Go boot program: the worker launcher of --environment_type=PROCESS
# (scripts/process-worker.sh), for the separate-worker test and RUNNING.md.
if [ ! -x "$CACHE/bin/beam-boot" ]; then
	say "building Beam's Go boot program (github.com/apache/beam/sdks/v2/go/container)"
	go build -o "$CACHE/bin/beam-boot" github.com/apache/beam/sdks/v2/go/container
fi

# versitygw, pinned: a real S3 server (with If-None-Match conditional puts)
# that the lake's S3 backend is tested against on loopback. It builds in its
# own module, so it adds nothing to ours.
if [ ! -x "$CACHE/bin/versitygw" ]; then
	say "building versitygw (github.com/versity/versitygw), the S3 server for tests"
	GOBIN="$PWD/$CACHE/bin" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi

# DuckDB (independent Delta/parquet reader used by the tests).
if [ ! -d scripts/duckdb/node_modules/@duckdb/node-api ]; then
	say "installing DuckDB for the table checks (npm @duckdb/node-api)"
	(cd scripts/duckdb && npm ci --silent --no-audit --no-fund)
else
	say "DuckDB already installed"
fi
# transformers.js (parity of our tokenizer and logits). Its onnxruntime-node
# dependency would download CUDA libraries in postinstall; the CPU library
# it needs ships inside the package, so the download is skipped.
if [ ! -d scripts/parity/node_modules/@huggingface/transformers ]; then
	say "installing transformers.js for the parity check (npm @huggingface/transformers)"
	(cd scripts/parity && ONNXRUNTIME_NODE_INSTALL=skip npm ci --silent --no-audit --no-fund)
else
	say "transformers.js already installed"
fi
say "done"
