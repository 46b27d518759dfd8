#!/usr/bin/env bash
# The project's test command (README, .ci/run): set-up, static checks, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 ./...
