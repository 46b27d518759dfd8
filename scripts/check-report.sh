#!/usr/bin/env bash
# Renders an EDA report (index.html) in headless Chromium, offline, and checks
# that the page loads with every image; saves a screenshot beside it.
# Usage: scripts/check-report.sh OUT_DIR
set -euo pipefail
out=${1:?usage: check-report.sh OUT_DIR}
page="$(cd "$out" && pwd)/index.html"
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
	echo "check-report: chromium not found (scripts/setup-test.sh installs it on Debian)" >&2
	exit 1
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
	--disable-component-update --disable-sync --user-data-dir="$profile" --allow-file-access-from-files
	--virtual-time-budget=10000)
dom=$("$chrome" "${flags[@]}" --dump-dom "file://$page" 2>/dev/null)
"$chrome" "${flags[@]}" --window-size=1200,2400 --screenshot="$out/report-screenshot.png" "file://$page" >/dev/null 2>&1 || true
images=$(printf '%s' "$dom" | grep -o 'data-images="[0-9]*/[0-9]*"' | head -1 | grep -o '[0-9]*/[0-9]*' || true)
expected=$(grep -c '<img ' "$page")
if [ -z "$images" ]; then
	echo "check-report: the page did not finish loading in Chromium" >&2
	exit 1
fi
loaded=${images%/*}
total=${images#*/}
if [ "$loaded" != "$total" ] || [ "$total" != "$expected" ] || [ "$total" = 0 ]; then
	echo "check-report: $loaded of $total images loaded ($expected in the page)" >&2
	exit 1
fi
echo "check-report: $page renders in Chromium with all $total images ($out/report-screenshot.png)"
