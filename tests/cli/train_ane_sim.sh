#!/usr/bin/env bash
# `train --backend ane-sim` runs the ane backend's code path (on the private-API simulator):
# same accuracy as vane on mnist-10k for 2 epochs, compiles = distinct programs (constant in
# the number of steps), one dispatch per step; an injected eval fault stops the run with a
# clear message, the last checkpoint stays intact and a resume on vane loses nothing.
set -euo pipefail
bin="${ANET_BIN:?}"
data="${ANET_SHARED_DIR:?}/datasets/mnist-10k"
py=/usr/bin/python3
[ -d "$data" ] || { echo "skip: $data not found"; exit 0; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
common=(--dataset "$data" --epochs 2 --seed 3 --quiet)

"$bin" train "${common[@]}" --backend ane-sim --out "$tmp/sim"
"$bin" train "${common[@]}" --backend vane --program-form device --out "$tmp/vane"
"$py" - "$tmp/sim/metrics.jsonl" "$tmp/vane/metrics.jsonl" <<'PY'
import json, sys
sim = [json.loads(l) for l in open(sys.argv[1]) if '"epoch"' in l]
van = [json.loads(l) for l in open(sys.argv[2]) if '"epoch"' in l]
sim = [m for m in sim if m["event"] == "epoch"]; van = [m for m in van if m["event"] == "epoch"]
assert len(sim) == 2 and len(van) == 2, (sim, van)
assert all(m["backend"] == "ane-sim" for m in sim), sim
assert abs(sim[-1]["test_acc"] - van[-1]["test_acc"]) <= 0.003, (sim[-1]["test_acc"], van[-1]["test_acc"])
# Compiles: one per distinct program, the same after 1 and after 2 epochs.
assert sim[0]["compiles"] == sim[1]["compiles"] == van[1]["compiles"], [m["compiles"] for m in sim + van]
assert sim[1]["compiles"] <= 3, sim[1]["compiles"]
# More steps than the simulator's compile limit (119), yet only these few compiles.
assert sim[1]["step"] > 119, sim[1]["step"]
assert sim[1]["dispatches_per_step"] == van[1]["dispatches_per_step"] == 1, sim[1]
PY

# A fault at the 200th evaluation (in epoch 2): clear message, exit 1, epoch-1 checkpoint kept.
set +e
ANE_TRAINER_SIM_FAULTS="eval@200" "$bin" train "${common[@]}" --backend ane-sim --out "$tmp/f" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" != 0 ] || { echo "the injected fault did not stop the run"; exit 1; }
grep -q "simulated fault 'eval' at evaluation 200" "$tmp/err"
grep -q "evaluation failed" "$tmp/err"
[ -s "$tmp/f/checkpoint.safetensors" ]
# Resume on vane: epoch 2 is exactly the uninterrupted run's epoch 2.
"$bin" train --resume "$tmp/f/checkpoint.safetensors" --epochs 2 --backend vane --program-form device --out "$tmp/f" --quiet
"$py" - "$tmp/f/metrics.jsonl" "$tmp/vane/metrics.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]; b = [json.loads(l) for l in open(sys.argv[2])]
a2 = [m for m in a if m.get("event") == "epoch" and m["epoch"] == 2][-1]
b2 = [m for m in b if m.get("event") == "epoch" and m["epoch"] == 2][-1]
assert a2["train_loss"] == b2["train_loss"] and a2["test_acc"] == b2["test_acc"], (a2, b2)
PY

# ane where it cannot run: a clear error, no silent fallback.
if [ "$(uname -s)" != Darwin ]; then
    set +e
    "$bin" train "${common[@]}" --backend ane --out "$tmp/ane" 2>"$tmp/err2"
    rc=$?
    set -e
    [ "$rc" != 0 ] && grep -q "needs macOS" "$tmp/err2"
fi
echo "train --backend ane-sim: OK"
