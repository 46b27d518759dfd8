#!/usr/bin/env bash
# The command of --environment_type=PROCESS: starts one Beam SDK worker
# process through Beam's Go boot program (built by setup-test.sh into
# .cache/bin/beam-boot, or $BEAM_BOOT), which fetches the staged worker
# binary (--worker_binary) and runs it against the runner's endpoints.
#
# prism 2.77 passes the worker id as --id='ID', quotes included, and then
# does not recognise the quoted id ("worker_id ... not registered in worker
# pool"): the quotes are removed here. Other runners' ids pass unchanged.
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
exec "$boot" "${args[@]}"
