#!/usr/bin/env bash
# The command of --environment_type=PROCESS: starts one Beam SDK worker
# process through Beam's Go boot program (built by setup-test.sh into
# .cache/bin/beam-boot, or $BEAM_BOOT), which fetches the staged worker
# binary (--worker_binary) and runs it against the runner's endpoints.
#
# prism 2.77 passes the worker id as --id='ID', quotes included, and then
# does not recognise the quoted id ("worker_id ... not registered in worker
# pool"): the quotes are removed here. Other runners' ids pass unchanged.
#
# Beam's boot program leaves two copies of the worker binary behind (about
# 200 MB each): the staged artifact under --semi_persist_dir (default /tmp)
# and a copy to execute in a new /tmp/binNNN folder, never removed. Each
# worker here stages into a folder of its own, removed when it exits, and
# removes the /tmp/bin* copies that no running process executes and that are
# more than a minute old (a boot program starting now has not run its copy
# yet).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
boot="${BEAM_BOOT:-$here/.cache/bin/beam-boot}"
args=()
for a in "$@"; do
	if [[ $a == --id=\'*\' ]]; then
		a="--id=${a:6:${#a}-7}"
	fi
	args+=("$a")
done
work="$(mktemp -d "${TMPDIR:-/tmp}/medallion-worker.XXXXXX")"

cleanup() {
	rm -rf "$work"
	local running d
	running="$(for e in /proc/[0-9]*/exe; do readlink "$e" 2>/dev/null || true; done)"
	for d in /tmp/bin*/; do
		[ -f "${d}worker" ] || continue
		[ -n "$(find "$d" -maxdepth 0 -mmin +1 2>/dev/null)" ] || continue
		grep -qxF "${d}worker" <<<"$running" && continue
		rm -rf "$d"
	done
}
trap cleanup EXIT
trap 'kill -TERM "$pid" 2>/dev/null || true' TERM INT

"$boot" "${args[@]}" --semi_persist_dir="$work" &
pid=$!
rc=0
wait "$pid" || rc=$?
# a signal interrupts wait: wait for the boot program itself to end
while kill -0 "$pid" 2>/dev/null; do
	wait "$pid" || rc=$?
done
exit "$rc"
