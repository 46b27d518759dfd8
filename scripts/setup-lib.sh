# Sourced by scripts/setup.sh and scripts/setup-test.sh: `say` prefixes a
# message with the script's name, `need COMMAND PACKAGE` installs a
# missing command's Debian package when it can (as root), or stops with what
# to install, and `npmci DIR WHAT` installs a folder's pinned npm packages.
say() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*"; }
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
		say "installing $2 with apt-get"
		apt-get update -qq >/dev/null && apt-get install -y -qq "$2" >/dev/null
	else
		say "missing $1: install $2 and run again" >&2
		exit 1
	fi
}
npmci() { # DIR WHAT: npm ci in DIR when its lock file is newer than what is installed
	if [ ! -d "$1/node_modules" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
		say "installing $2 (npm ci in $1)"
		(cd "$1" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --silent --no-audit --no-fund)
	fi
}
