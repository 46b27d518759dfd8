#!/usr/bin/env bash
# The project's test command (README, .ci/run): set-up (the demo's and the
# tests'), static checks, the race detector, brief fuzzing, one end-to-end
# run checked by independent tools, then the Go tests, whose closing summary
# counts skipped tests (a test skips only when something it needs is absent,
# and under CI=true it fails instead); the cluster tests run beside all that.
# Fails, naming the failed steps, if any step failed or the run changed the
# tree.
set -euo pipefail
cd "$(dirname "$0")/.."
tree_before=$(git status --porcelain 2>/dev/null || true)
# step names a step and how long the command has run (docs/TESTING.md's
# timings are read off these).
step() { printf '== %s [%dm%02ds]\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }
./scripts/setup-test.sh
step "go vet (both test tiers), staticcheck"
go vet ./...
go vet -tags integration ./...
./.cache/bin/staticcheck -tags integration ./...
# The cluster tests (TestClusters: a Flink and a Spark cluster of separate
# processes, with faults) mostly wait on JVMs, restarts and workers booting:
# they run in the background, beside every step below, and report at the end.
# From here on a step that fails does not stop the others.
failed=()
clusters_events=$(mktemp)
clusters_log=$(mktemp)
events=$(mktemp)
trap 'rm -f "$events" "$clusters_events" "$clusters_log"' EXIT
step "the cluster tests start in the background (TestClusters, reported at the end)"
./.cache/bin/gotestsum --jsonfile "$clusters_events" --format standard-verbose -- -tags integration -count=1 -timeout 45m \
	-run '^TestClusters$' ./pipelines/ >"$clusters_log" 2>&1 &
clusters=$!
step "race detector (the packages with concurrency of their own)"
# The tests whose other side is Spark or MLflow (run by the last step) add
# JVM and Python time, not Go concurrency.
go test -count=1 -race -tags integration -skip 'TestSparkFeatures|TestMLflowReadsOurFileStore|TestMLflowServerSQLite|TestRegistryOnS3RegisteredByMLflow' ./lake/ ./inference/ ./tracking/ || failed+=("race detector")
step "fuzzing, briefly (longer runs: docs/RELIABILITY.md)"
for target in transforms:FuzzSplitAndDecode transforms:FuzzParseTweetDate transforms:FuzzMentionsAndCleanText inference:FuzzEncode; do
	# The whole output when it fails (a crasher, or the fuzzing engine's own error); its last line otherwise.
	if out=$(go test -run '^$' -fuzz "^${target#*:}\$" -fuzztime 10s "./${target%%:*}/" 2>&1); then
		echo "$out" | tail -1
	else
		echo "$out" >&2
		failed+=("fuzzing $target")
	fi
done
step "end to end: pipeline, EDA, report in Chromium, metrics against scikit-learn"
./scripts/check-eda.sh || failed+=("check-eda.sh")
step "re-scoring 100,000 tweets with a new model equals a fresh run (delta-rs)"
./scripts/check-rescore.sh || failed+=("check-rescore.sh")
step "go test (both tiers: -tags integration; TestClusters runs in the background)"
# Files tests keep (t.ArtifactDir: the live page's screenshot) go to .cache/test-artifacts.
artifacts="$PWD/.cache/test-artifacts"
rm -rf "$artifacts" && mkdir -p "$artifacts"
./.cache/bin/gotestsum --jsonfile "$events" --format pkgname-and-test-fails --format-hide-empty-pkg -- -tags integration -count=1 -timeout 45m \
	-skip '^TestClusters$' -artifacts -outputdir "$artifacts" ./... || failed+=("go test")
step "the cluster tests (TestClusters)"
wait "$clusters" || failed+=("TestClusters")
cat "$clusters_log"
# Under CI every test must run: a skip means the set-up missed something.
skipped=$(cat "$events" "$clusters_events" | grep '"Action":"skip"' | grep -c '"Test":' || true)
if [ -n "${CI:-}" ] && [ "$skipped" -gt 0 ]; then
	echo "test.sh: $skipped test(s) skipped under CI:" >&2
	cat "$events" "$clusters_events" | grep '"Action":"skip"' | grep '"Test":' | sed 's/.*"Package":"\([^"]*\)","Test":"\([^"]*\)".*/  \1 \2/' >&2
	failed+=("skipped tests")
fi
tree_after=$(git status --porcelain 2>/dev/null || true)
if [ "$tree_after" != "$tree_before" ]; then
	echo "test.sh: the run changed the tree (tests must write only to temporary folders):" >&2
	diff <(printf '%s\n' "$tree_before") <(printf '%s\n' "$tree_after") >&2 || true
	failed+=("the tree changed")
fi
if [ ${#failed[@]} -gt 0 ]; then
	printf 'test.sh: failed: %s\n' "$(IFS=,; echo "${failed[*]}" | sed 's/,/, /g')" >&2
	exit 1
fi
echo "test.sh: every step passed [$((SECONDS / 60))m$(printf %02d $((SECONDS % 60)))s]"
