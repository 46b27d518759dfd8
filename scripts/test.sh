#!/usr/bin/env bash
# The project's test command (README, .ci/run): set-up, static checks, tests,
# then one end-to-end run checked by independent tools.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 ./...
echo "== end to end: pipeline, EDA, report in Chromium, metrics against scikit-learn"
./scripts/check-eda.sh
