# Sourced by scripts/setup.sh and scripts/setup-test.sh: `say` prefixes a
# message with the script's name, and `need COMMAND PACKAGE` installs a
# missing command's Debian package when it can (as root), or stops with what
# to install.
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
