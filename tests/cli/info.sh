#!/usr/bin/env bash
# End-to-end: top-level help/version, `info` text and JSON, usage errors.
set -u
bin=${ANET_BIN:?}
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect_rc() { # expected-rc description command...
    local want=$1 what=$2; shift 2
    "$@" >/tmp/anet_info_out.$$ 2>/tmp/anet_info_err.$$; local rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else bad "$what: exit $rc, wanted $want: $(cat /tmp/anet_info_err.$$)"; fi
}
expect_rc 0 "--help" "$bin" --help
grep -q "usage: ane_trainer" /tmp/anet_info_out.$$ && ok || bad "--help text"
expect_rc 0 "--version" "$bin" --version
grep -Eq "^ane_trainer [0-9]+\.[0-9]+\.[0-9]+$" /tmp/anet_info_out.$$ && ok || bad "--version text"
expect_rc 64 "no command" "$bin"
expect_rc 64 "unknown command" "$bin" frobnicate
grep -q "unknown command 'frobnicate'" /tmp/anet_info_err.$$ && ok || bad "unknown command message"
expect_rc 0 "info" "$bin" info
grep -q "neural engine:" /tmp/anet_info_out.$$ && ok || bad "info text"
expect_rc 0 "info --help" "$bin" info --help
expect_rc 64 "info bad option" "$bin" info --bogus
expect_rc 0 "info --json" "$bin" info --json
if /usr/bin/python3 - /tmp/anet_info_out.$$ <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d["neural_engine"]["framework_present"], bool)
assert "vane" in d["backends"]
assert d["fp16_path"] in ("f16c", "neon", "portable")
PY
then ok; else bad "info --json is not the expected JSON"; fi
rm -f /tmp/anet_info_out.$$ /tmp/anet_info_err.$$
echo "info.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
