#!/usr/bin/env bash
# `ane_trainer selftest` on ane-sim: a JSON report where every case agrees with vane; with an
# injected fault, the failing case carries the error text and the exit status is 1.
set -euo pipefail
bin="${ANET_BIN:?ANET_BIN must name the ane_trainer binary}"
py=/usr/bin/python3
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The selftest cases are small programs outside any chip's form: run them on the simulator
# without the form rules (ANE_TRAINER_FORMS, docs/mil.md); tests/cli/forms.sh covers the forms.
export ANE_TRAINER_FORMS=none
"$bin" selftest --help | grep -q -- "--backend ane|ane-sim"
"$bin" selftest --backend ane-sim --json "$tmp/report.json" >"$tmp/stdout.json"
"$py" - "$tmp/report.json" "$tmp/stdout.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r == json.load(open(sys.argv[2])), "stdout and --json differ"
assert r["backend"] == "ane-sim" and r["reference"] == "vane", r
assert "simulator" in r["executed_on"], r["executed_on"]
names = [c["name"] for c in r["cases"]]
for op in ["matmul", "add", "sub", "mul", "relu", "exp", "log", "reduce_max", "reduce_sum",
           "greater_select", "mlp_step"]:
    assert op in names, (op, names)
for op in ["trainer_step_update_cpu", "trainer_step_update_ane", "trainer_eval"]:
    assert op in names, (op, names)
for c in r["cases"]:
    assert c["ok"] is True and c["max_norm_err"] == 0 and c["ref_nonfinite"] == 0, c
assert r["summary"] == {"passed": len(names), "failed": 0}, r["summary"]
assert r["counts"]["compiles"] == len(names), r["counts"]
assert r["ane_info"]["compile_budget"] == 100
PY

# An eval failure at the 3rd dispatch: that case fails with the message, the others pass.
set +e
ANE_TRAINER_SIM_FAULTS="eval@3" "$bin" selftest --json "$tmp/fault.json" >/dev/null 2>"$tmp/err.txt"
rc=$?
set -e
[ "$rc" = 1 ] || { echo "expected exit 1 with a fault, got $rc"; exit 1; }
grep -q "1 case(s) failed" "$tmp/err.txt"
"$py" - "$tmp/fault.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bad = [c for c in r["cases"] if not c["ok"]]
assert len(bad) == 1 and bad[0]["name"] == r["cases"][2]["name"], bad
assert "simulated fault 'eval' at evaluation 3" in bad[0]["error"], bad[0]["error"]
assert "evaluation failed" in bad[0]["error"], bad[0]["error"]
assert r["sim_faults"] == "eval@3"
PY

# Framework missing: one clear error in the report, exit 1.
set +e
ANE_TRAINER_SIM_FAULTS="framework" "$bin" selftest >"$tmp/fw.json" 2>/dev/null
rc=$?
set -e
[ "$rc" = 1 ]
"$py" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert "AppleNeuralEngine.framework" in r["backend_error"], r' "$tmp/fw.json"

# Usage errors.
set +e
"$bin" selftest --backend vane >/dev/null 2>&1; [ $? = 64 ] || exit 1
"$bin" selftest --bogus >/dev/null 2>&1; [ $? = 64 ] || exit 1
set -e
echo "selftest CLI: OK"
