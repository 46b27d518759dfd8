#!/usr/bin/env bash
# The project's test command (README, .ci/run): set-up, static checks, the
# race detector, brief fuzzing, one end-to-end run checked by independent
# tools, then the Go tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== go vet, staticcheck"
go vet ./...
./.cache/bin/staticcheck ./...
echo "== race detector (the packages with concurrency of their own)"
go test -count=1 -race ./lake/ ./inference/ ./tracking/
echo "== fuzzing, briefly (longer runs: docs/RELIABILITY.md)"
for target in transforms:FuzzSplitAndDecode transforms:FuzzParseTweetDate transforms:FuzzMentionsAndCleanText inference:FuzzEncode; do
	go test -run '^$' -fuzz "^${target#*:}\$" -fuzztime 10s "./${target%%:*}/" | tail -1
done
echo "== end to end: pipeline, EDA, report in Chromium, metrics against scikit-learn"
./scripts/check-eda.sh
echo "== go test"
go test -count=1 ./...
