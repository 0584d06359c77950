#!/usr/bin/env bash
# `train --backend auto` takes its program forms from the selftest report stored for this chip
# and OS (here: the simulator, ANE_TRAINER_AUTO_CANDIDATE=ane-sim), says so, and trains (also
# when it allows only 2-4 inputs per program; a form that cannot be met goes to vane with one
# line); a report for another chip, or a corrupt one, is not used and the line says why.
set -euo pipefail
bin="${ANET_BIN:?ANET_BIN must name the ane_trainer binary}"
data="${ANET_SHARED_DIR:?}/datasets/mnist-10k"
py=/usr/bin/python3
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export ANE_TRAINER_CACHE_DIR="$tmp/cache" ANE_TRAINER_AUTO_CANDIDATE=ane-sim
unset ANE_TRAINER_FORMS
report="$tmp/cache/selftest-ane-sim.json"
train() { "$bin" train --dataset "$data" --epochs 1 --max-steps 2 --backend auto --out "$tmp/$1" 2>"$tmp/$1.err" >/dev/null; }

# No report: nothing said about one.
train none
if grep -q "selftest report" "$tmp/none.err"; then cat "$tmp/none.err"; exit 1; fi

# The ladder on the simulator's M4 defaults, stored; auto uses it and says which switches.
"$bin" selftest --backend ane-sim --chip m4 --store >/dev/null
test -s "$report"
train stored
grep -q "^backend: ane-sim (auto: " "$tmp/stored.err"
grep -q "^program forms from the selftest report '$report'" "$tmp/stored.err"
grep -q "io-shape-1c1s=on" "$tmp/stored.err"
grep -q "row-layout=strided64" "$tmp/stored.err"
grep -q "stopping after 2 steps" "$tmp/stored.err"

# A report whose rules differ from the chip's defaults (channel broadcasts give zeros, widths
# must be multiples of 32): training runs in that form and the line lists them.
"$py" - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["rule_settings"]["broadcast-channel"]["value"] = "on"
r["rule_settings"]["io-width-mult32"]["value"] = "on"
json.dump(r, open(sys.argv[1], "w"))
PY
train changed
grep -q "broadcast-channel=on" "$tmp/changed.err"
grep -q "io-width-mult32=on" "$tmp/changed.err"
grep -q "stopping after 2 steps" "$tmp/changed.err"

# A chip that takes only 2, 3 or 4 inputs per program: the inputs are packed into that many
# and training runs on ane-sim (both update modes); a form the planner cannot meet (max-inputs=1
# with a model too large for one packed input) falls back to vane with one line saying why.
for k in 2 3 4; do
    "$py" - "$report" "$k" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["rule_settings"]["max-inputs"]["value"] = sys.argv[2]
json.dump(r, open(sys.argv[1], "w"))
PY
    for u in cpu ane; do
        "$bin" train --dataset "$data" --epochs 1 --max-steps 2 --backend auto --update "$u" --out "$tmp/mi$k$u" \
            2>"$tmp/mi$k$u.err" >/dev/null || { cat "$tmp/mi$k$u.err"; exit 1; }
        grep -q "max-inputs=$k" "$tmp/mi$k$u.err"
        grep -q "^backend: ane-sim" "$tmp/mi$k$u.err"
        grep -q "stopping after 2 steps" "$tmp/mi$k$u.err"
        if grep -q "warning" "$tmp/mi$k$u.err"; then cat "$tmp/mi$k$u.err"; exit 1; fi
    done
done
"$py" - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["rule_settings"]["max-inputs"]["value"] = "1"
json.dump(r, open(sys.argv[1], "w"))
PY
"$bin" train --dataset "$data" --model mlp:784-4096-10 --epochs 1 --max-steps 1 --backend auto --out "$tmp/big" \
    2>"$tmp/big.err" >/dev/null || { cat "$tmp/big.err"; exit 1; }
[ "$(grep -c warning "$tmp/big.err")" = 1 ]
grep -q "^ane_trainer: warning: ane-sim failed to take the programs in their form (.*breaks rule max-inputs.*); continuing on vane$" "$tmp/big.err"
grep -q "^backend: vane" "$tmp/big.err"
grep -q "stopping after 1 steps" "$tmp/big.err"

# Hostile max-inputs values: one that is not a count in 1..4096 makes the report unused with
# one line (never read as a prefix, an overflowed int or an injected switch); 0, a value that
# is not text and a rule id the ladder does not know are ignored and the rest of the report used.
k=0
for v in '"3x"' '"-5"' '"1000000000"' '"2,none"'; do
    k=$((k + 1))
    "$py" - "$report" "$v" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["rule_settings"]["max-inputs"]["value"] = json.loads(sys.argv[2])
json.dump(r, open(sys.argv[1], "w"))
PY
    train hostile$k
    [ "$(grep -c "selftest report" "$tmp/hostile$k.err")" = 1 ] || { cat "$tmp/hostile$k.err"; exit 1; }
    grep -q "selftest report '$report' not used: its switches do not parse (ANE_TRAINER_FORMS: 'max-inputs=" "$tmp/hostile$k.err"
    grep -q "stopping after 2 steps" "$tmp/hostile$k.err"
done
"$py" - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["rule_settings"]["max-inputs"]["value"] = "0"
r["rule_settings"]["broadcast-channel"]["value"] = 1
r["rule_settings"]["no-such-rule"] = {"value": "on"}
json.dump(r, open(sys.argv[1], "w"))
PY
train ignored
grep -q "^program forms from the selftest report '$report'" "$tmp/ignored.err"
if grep -q "max-inputs\|no-such-rule\|broadcast-channel=on" "$tmp/ignored.err"; then cat "$tmp/ignored.err"; exit 1; fi

# Measured on another chip: not used, with the reason.
"$py" - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["host"]["chip"] = "Apple M9 Ultra"
json.dump(r, open(sys.argv[1], "w"))
PY
train other
grep -q "selftest report '$report' not used: the stored report is for chip 'Apple M9 Ultra'" "$tmp/other.err"
if grep -q "program forms from" "$tmp/other.err"; then exit 1; fi

# Corrupt: not used, one line, training goes on.
printf '{"tool": "ane_trainer selftest", "host": {' >"$report"
train corrupt
grep -q "selftest report not used: '$report' is not an ane_trainer selftest report" "$tmp/corrupt.err"
grep -q "stopping after 2 steps" "$tmp/corrupt.err"
echo "selftest report for auto: OK"
