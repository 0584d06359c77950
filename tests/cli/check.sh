#!/usr/bin/env bash
# End-to-end tests of `ane_trainer check`: fixture verdicts and exit codes, --json, --explain,
# usage errors (exit 5, never 1) and malformed inputs (exit 3 or 4 with one line on stderr).
set -u
BIN=${ANET_BIN:?}
FIX=${ANET_SHARED_DIR:?}/fixtures/coreml
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

# expect_exit CODE ARGS...: runs check, compares the exit code.
expect_exit() {
    local want=$1
    shift
    "$BIN" check "$@" >"$T/out" 2>"$T/err"
    local got=$?
    if [ "$got" = "$want" ]; then ok "check $* -> $got"; else bad "check $* -> $got, want $want"; cat "$T/err"; fi
}
# one_line: stderr holds exactly one line naming the problem.
one_line() {
    local n
    n=$(wc -l <"$T/err")
    if [ "$n" = 1 ] && grep -q "ane_trainer check: " "$T/err"; then ok "one line: $(cat "$T/err")"; else bad "stderr not one line:"; cat "$T/err"; fi
}

expect_exit 0 "$FIX/Image2Image.mlmodel"
grep -q "likely fully compatible" "$T/out" || bad "Image2Image summary"
expect_exit 0 "$FIX/mnistCNN.mlmodel"
grep -q "^  1: layers 1-14" "$T/out" || bad "mnistCNN: one segment of 14 layers"
expect_exit 2 "$FIX/lstsq-custom.mlmodel"
grep -q "nn-custom-layer" "$T/out" || bad "lstsq: custom rule missing"

# --json carries the same verdicts; validate it with Python's json module.
expect_exit 2 "$FIX/lstsq-custom.mlmodel" --json
$PY - "$T/out" <<'PYEOF' || bad "lstsq --json content"
import json, sys
r = json.load(open(sys.argv[1]))
cust = [l for l in r["layers"] if l["type"] == "custom"]
assert len(cust) == 1 and cust[0]["verdict"] == "cpu" and cust[0]["rule"] == "nn-custom-layer", cust
assert r["summary"]["compatibility"] == "none" and r["summary"]["exit_status"] == 2, r["summary"]
assert all(l["source"] for l in r["layers"])
PYEOF
expect_exit 0 "$FIX/mnistCNN.mlmodel" --json --chip m1
$PY - "$T/out" <<'PYEOF' || bad "mnistCNN --json content"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["chip"] == "m1"
assert len(r["layers"]) == 14 and all(l["verdict"] == "ane" for l in r["layers"])
s = r["segments"]
assert len(s) == 1 and s[0]["inputs"][0]["name"] == "image" and s[0]["inputs"][0]["shape"] == [1, 1, 28, 28], s
PYEOF

# add_model.mlmodelc: a compiled ML Program (model.mil), one fp16 mul: fully compatible.
expect_exit 0 "$FIX/add_model.mlmodelc" --json
$PY - "$T/out" <<'PYEOF' || bad "add_model --json content"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["format"] == "mlmodelc" and [l["type"] for l in r["layers"]] == ["mul"], r["layers"]
assert r["layers"][0]["verdict"] == "ane"
assert [t["name"] for t in r["segments"][0]["inputs"]] == ["x", "y"]
assert r["segments"][0]["outputs"][0]["shape"] == [1, 10]
PYEOF

# --explain
expect_exit 0 --explain nn-rnn
grep -q "source:" "$T/out" || bad "--explain prints the source"
expect_exit 0 --explain op-rejected-gelu
expect_exit 5 --explain no-such-rule

# Usage errors: 5, never 1.
expect_exit 5
expect_exit 5 "$FIX/mnistCNN.mlmodel" --chip m9
expect_exit 5 "$FIX/mnistCNN.mlmodel" --bogus
expect_exit 5 "$FIX/mnistCNN.mlmodel" "$FIX/Image2Image.mlmodel"
expect_exit 5 "$FIX/mnistCNN.mlmodel" --chip
expect_exit 0 --help

# Malformed and unreadable input.
expect_exit 3 "$T/does-not-exist.mlmodel"; one_line
: >"$T/empty.mlmodel"
expect_exit 4 "$T/empty.mlmodel"; one_line
head -c 4096 /dev/urandom >"$T/random.mlmodel"
"$BIN" check "$T/random.mlmodel" >/dev/null 2>"$T/err"; rc=$?
if [ $rc = 4 ] || [ $rc -le 2 ]; then ok "random bytes -> $rc"; else bad "random bytes -> $rc"; fi
head -c 1000 "$FIX/mnistCNN.mlmodel" >"$T/trunc.mlmodel"
expect_exit 4 "$T/trunc.mlmodel"; one_line
mkdir "$T/notabundle"
expect_exit 4 "$T/notabundle"; one_line
printf '\x08\x01\xa2\x1f\x05\x0a\x03' >"$T/pastend.mlmodel"   # neuralNetwork {layers: length 3, 0 bytes follow}
expect_exit 4 "$T/pastend.mlmodel"; one_line
printf '\x08\x01\xa0\x1f\x07' >"$T/wiretype.mlmodel"          # neuralNetwork 500 as a varint
expect_exit 4 "$T/wiretype.mlmodel"; one_line
# 100 nested pipelines (Model.pipeline 202 -> Pipeline.models 1 -> Model ...), built with Python.
$PY - "$T/deep.mlmodel" <<'PYEOF'
import sys
def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7f; v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v: return bytes(out)
def field(num, payload): return varint(num << 3 | 2) + varint(len(payload)) + payload
m = field(500, b"")
for _ in range(100):
    m = field(202, field(1, m))
open(sys.argv[1], "wb").write(m)
PYEOF
expect_exit 4 "$T/deep.mlmodel"; one_line
grep -q "nested deeper" "$T/err" || bad "deep nesting message"

exit $fail
