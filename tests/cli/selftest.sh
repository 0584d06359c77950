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
# The probe ladder: >= 30 probes, each naming its rule, compared with the float64 reference.
# With every form quirk off all pass but one of the two row layouts and the 1x1 conv with
# runtime weights (a capability, off under "none").
probes = r["probes"]
assert len(probes) >= 30, len(probes)
assert len({p["id"] for p in probes}) == len(probes)
for p in probes:
    assert p["rule"] and p["what"] and p["form"] in ("risky", "workaround"), p
    if p["rule"] == "row-layout":  # rows written two ways: one of them reads back right
        continue
    if p["rule"] == "conv1x1-runtime-weights":
        assert p["outcome"] == "compile_failed" and "conv1x1-runtime-weights" in p["error"], p
        continue
    assert p["outcome"] == "passed" and 0 <= p["max_err"] <= p["tolerance"], p
rows = [p for p in probes if p["rule"] == "row-layout"]
assert sorted(p["outcome"] for p in rows) == ["passed", "wrong_values"], rows
assert r["probe_summary"] == {"passed": len(probes) - 2, "failed": 2}
assert r["probe_reference"] == "float64 on the CPU"
assert r["dialect"] == "ios18"
rs = r["rule_settings"]
assert {p["rule"] for p in probes} == set(rs), (set(rs), {p["rule"] for p in probes})
assert rs["max-inputs"]["value"] == "8" and rs["broadcast-channel"]["value"] == "off", rs
assert rs["row-layout"]["value"] == "packed" and rs["conv1x1-runtime-weights"]["value"] == "off", rs
assert r["cases_forms"] == "none", r["cases_forms"]
assert r["host"]["os"] and "chip" in r["host"] and r["probe_isolation"] == "one process per probe"
PY

# The simulator's own M4 quirks (ANE_TRAINER_FORMS unset): the probes of the rules that are on
# fail, the ladder says so in rule_settings, the cases still run in the plain form; exit 0
# (only risky forms failed).
env -u ANE_TRAINER_FORMS "$bin" selftest --backend ane-sim --chip m4 >"$tmp/m4.json"
"$py" - "$tmp/m4.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rs = {k: v["value"] for k, v in r["rule_settings"].items()}
for rule in ["io-shape-1c1s", "log-epsilon", "identity-output", "matmul-contraction-32"]:
    assert rs[rule] == "on", (rule, rs)
assert rs["row-layout"] == "strided64" and rs["dialect-ios16"] == "off", rs
bad = [p for p in r["probes"] if p["outcome"] != "passed"]
assert bad and all(p["form"] == "risky" for p in bad), bad
assert r["summary"]["failed"] == 0 and r["cases_forms"] == "none", r["summary"]
PY

# On a terminal: a short summary (one line per probe, the implied settings), no JSON; the
# report is stored for `train --backend auto` with --store.
if command -v script >/dev/null; then
  ANE_TRAINER_CACHE_DIR="$tmp/cache" script -qec "'$bin' selftest --backend ane-sim --store --json '$tmp/tty.json'" /dev/null >"$tmp/tty.txt"
  grep -q "baseline_add" "$tmp/tty.txt"
  grep -q "rule settings the results imply" "$tmp/tty.txt"
  grep -q "max-inputs .* 8" "$tmp/tty.txt"
  grep -q "report: $tmp/tty.json" "$tmp/tty.txt"
  grep -q "stored for .train --backend auto.: $tmp/cache/selftest-ane-sim.json" "$tmp/tty.txt"
  if grep -q '"probes"' "$tmp/tty.txt"; then echo "JSON printed on a terminal"; exit 1; fi
  test -s "$tmp/cache/selftest-ane-sim.json"
fi

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
"$bin" selftest --probe-timeout 0 >/dev/null 2>&1; [ $? = 64 ] || exit 1
"$bin" selftest --probe-timeout x >/dev/null 2>&1; [ $? = 64 ] || exit 1
"$bin" selftest --backend vane >/dev/null 2>&1; [ $? = 64 ] || exit 1
"$bin" selftest --bogus >/dev/null 2>&1; [ $? = 64 ] || exit 1
set -e
echo "selftest CLI: OK"
