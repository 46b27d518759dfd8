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
# A runner stops a worker by stopping this script (Beam's ProcessManager:
# SIGTERM, and SIGKILL 2 s later), and the boot program does not pass the
# signal on to the worker it started (a worker left running holds its copy
# of the binary and its memory). So on SIGTERM this script kills both at
# once and cleans up: the work is done or abandoned when a runner stops a
# worker, and a script killed outright could not clean up. They stay in the
# runner's process group, so that whatever stops the group stops them too.
#
# Beam's boot program leaves two copies of the worker binary behind (about
# 270 MB each): the staged artifact under --semi_persist_dir (default /tmp)
# and a copy to execute in a new /tmp/binNNN folder, never removed. Each
# worker here stages into a folder of its own, removed when it exits, with
# the /tmp/binNNN copy its worker executed; copies of others that no
# running process executes and that are more than a minute old go too (a
# boot program starting now has not run its copy yet).
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
pid=
copy=
worker=

# findcopy notes the worker process the boot program started and the
# /tmp/binNNN folder of the copy it runs.
findcopy() {
	local p exe
	for p in $(pgrep -P "$pid" 2>/dev/null || true); do
		exe="$(readlink "/proc/$p/exe" 2>/dev/null)" || continue
		case "$exe" in /tmp/bin*/worker) worker="$p" copy="${exe%/worker}" && return ;; esac
	done
}

cleanup() {
	# Kill first, by the pids already noted: the runner kills this script 2 s
	# after its TERM, and a clean-up cut short leaves the boot program and
	# its worker running, orphaned (a second TERM must not cut it either).
	trap '' TERM INT
	if [ -n "$pid" ]; then
		[ -z "$worker" ] || kill -KILL "$worker" 2>/dev/null || true
		pkill -KILL -P "$pid" 2>/dev/null || true # a worker not noted yet
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -rf "$work" ${copy:+"$copy"}
	local running d
	running="$(find /proc -mindepth 2 -maxdepth 2 -name exe -printf '%l\n' 2>/dev/null || true)"
	for d in /tmp/bin*/; do
		[ -f "${d}worker" ] || continue
		[ -n "$(find "$d" -maxdepth 0 -mmin +1 2>/dev/null)" ] || continue
		grep -qxF "${d}worker" <<<"$running" && continue
		rm -rf "$d"
	done
}
trap cleanup EXIT
trap 'exit 143' TERM INT

"$boot" "${args[@]}" --semi_persist_dir="$work" &
pid=$!
# Wait for the boot program, noting its worker's copy once it runs; a
# signal interrupts the sleep, not the wait for the boot program's end. A
# worker whose runner died (a TaskManager killed) does not notice and would
# run on: it ends with its runner.
while kill -0 "$pid" 2>/dev/null; do
	[ -n "$worker" ] || findcopy
	kill -0 "$PPID" 2>/dev/null || exit 1
	sleep 0.2 &
	wait $! || true
done
rc=0
wait "$pid" || rc=$?
exit "$rc"
