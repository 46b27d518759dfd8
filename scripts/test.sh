#!/usr/bin/env bash
# The project's test command (README, .ci/run): set-up, static checks, one
# end-to-end run checked by independent tools, then the Go tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== go vet"
go vet ./...
echo "== end to end: pipeline, EDA, report in Chromium, metrics against scikit-learn"
./scripts/check-eda.sh
echo "== go test"
go test -count=1 ./...
