# Sourced by the CLI tests: strict variables, ok/bad reporting (exit $fail at the end), the
# Python oracle, and a temporary HOME/cache so the user's real data and cache stay out of the way.
set -u
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp/home" XDG_CACHE_HOME="$tmp/cache"
