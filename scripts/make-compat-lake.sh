#!/usr/bin/env bash
# Writes testdata/compat/previous-main: a small lake made by the medallion
# command of an earlier commit (default 778b876, the last main before the
# restructuring into subcommands), for TestCarriesOnPreviousLake. The
# earlier command is built from git history in a temporary worktree and run
# as its users ran it: a batch of all stages, a rescore, a raw:bronze batch
# and a stage offset from bronze. The raw files' folder in the plans is
# written as /FIXTURE, which the test replaces with where it copies them
# (the tables' own data keep the paths they were written with).
set -euo pipefail
cd "$(dirname "$0")/.."
commit="${1:-778b876}"
out=testdata/compat/previous-main
work=$(mktemp -d)
trap 'git worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add -q "$work/src" "$commit"
(cd "$work/src" && go build -o "$work/medallion" ./pipelines/medallion)
export ORT_LIB="${ORT_LIB:-$PWD/.cache/onnxruntime/libonnxruntime.so.1}"
model="$PWD/testdata/models/tweet-sentiment-demo"
go run ./scripts/gentweets --out "$work/raw" --tweets 40 --per-file 4 --format ndjson --seed 81 --bad 0.05 >/dev/null
go run ./scripts/gentweets --out "$work/raw2" --tweets 24 --per-file 4 --format ndjson --seed 82 --first 100 >/dev/null
cd "$work"
./medallion --input raw --lake lake --model "$model" --shards 2 >/dev/null
./medallion --lake lake --model "$model" --rescore --shards 2 >/dev/null
mv raw2/* raw/
./medallion --input raw --lake lake --model "$model" --stages raw:bronze --shards 2 >/dev/null
./medallion --lake lake --model "$model" --stages bronze:silver,silver:gold,gold:application --shards 2 >/dev/null
rm -rf lake/_monitoring
find lake/_checkpoints -name '*.json' -exec sed -i "s|$work|/FIXTURE|g" {} +
cd - >/dev/null
rm -rf "$out"
mkdir -p "$out"
cp -r "$work/lake" "$work/raw" "$out/"
echo "wrote $out from commit $commit"
