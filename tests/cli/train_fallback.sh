#!/usr/bin/env bash
# `--backend auto` and faults of the ane backend (on its simulator: ANE_TRAINER_AUTO_CANDIDATE=
# ane-sim, ANE_TRAINER_SIM_FAULTS): every injected fault (compile, load, eval in the middle of
# epoch 2, eval during an evaluation, framework missing) gives a warning and a run that
# finishes on vane, with the switch in the metrics; nothing is lost: the final checkpoint's
# tensors and every epoch's loss/accuracy equal those of a run entirely on vane with the same
# seed (ane-sim executes on vane with vane's numerics, so a lossless switch is bit-exact): vane
# running the device form (--program-form device) where the programs were built for ane-sim,
# vane's own plain form where auto chose vane before building them (a failed self-check).
# With --backend ane-sim named explicitly the same fault is an error, and the last checkpoint
# stays intact.
set -euo pipefail
bin="${ANET_BIN:?}"
data="${ANET_SHARED_DIR:?}/datasets/mnist-10k"
py=/usr/bin/python3
[ -d "$data" ] || { echo "skip: $data not found"; exit 0; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
common=(--dataset "$data" --epochs 2 --seed 3 --quiet)

# Same tensors (bit for bit) and the same training position in two checkpoints.
same_ckpt() {
    "$py" - "$1" "$2" <<'PY'
import json, struct, sys
import numpy as np
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); meta = h.pop("__metadata__")
    data = b[8 + n:]
    dt = {"F32": np.float32, "F16": np.float16}
    return meta, {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dt[v["dtype"]]).reshape(v["shape"])
                  for k, v in h.items()}
ma, ta = load(sys.argv[1]); mb, tb = load(sys.argv[2])
assert sorted(ta) == sorted(tb), (sorted(ta), sorted(tb))
for k in ta:
    assert ta[k].dtype == tb[k].dtype and ta[k].shape == tb[k].shape, k
    assert ta[k].tobytes() == tb[k].tobytes(), ("tensor differs", k, float(np.abs(ta[k].astype(np.float64) - tb[k]).max()))
for k in ("step", "epoch", "optimizer_steps", "loss_scale", "skipped_steps", "rng", "data_epoch", "data_index", "test_acc"):
    assert ma[k] == mb[k], (k, ma[k], mb[k])
PY
}

# Epoch lines: same losses and accuracies as the vane run; the switch is recorded.
#   $1 metrics of the faulty run, $2 metrics of the vane run, $3 fault text expected in the
#   reason, $4 "start" (auto fell back before training) or "mid" (after epoch 1 on ane-sim)
check_metrics() {
    "$py" - "$@" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]; b = [json.loads(l) for l in open(sys.argv[2])]
text, when = sys.argv[3], sys.argv[4]
ea = [m for m in a if m["event"] == "epoch"]; eb = [m for m in b if m["event"] == "epoch"]
assert len(ea) == len(eb) == 2, (ea, eb)
for x, y in zip(ea, eb):
    assert (x["step"], x["train_loss"], x["test_acc"]) == (y["step"], y["train_loss"], y["test_acc"]), (x, y)
fb = [m for m in a if m["event"] == "fallback"]
assert len(fb) == 1, a
assert fb[0]["backend"] == "vane" and text in fb[0]["fallback"], fb[0]
assert ea[-1]["backend"] == "vane" and ea[-1]["fallback"] == fb[0]["fallback"], ea[-1]
i = a.index(fb[0])
if when == "mid":  # epoch 1 ran on ane-sim, the switch came in epoch 2
    assert ea[0]["backend"] == "ane-sim" and "fallback" not in ea[0], ea[0]
    assert a.index(ea[0]) < i < a.index(ea[1]) and fb[0]["epoch"] == 2, a
    assert 78 < fb[0]["step"] < 156, fb[0]
else:
    assert i == 0 and all(m["backend"] == "vane" for m in a), a
# compiles stay cumulative across the switch (never fewer than the vane run's two programs)
assert ea[-1]["compiles"] >= eb[-1]["compiles"], (ea[-1], eb[-1])
PY
}

for upd in cpu ane; do
    "$bin" train "${common[@]}" --update "$upd" --backend vane --program-form device --out "$tmp/vane-$upd"
    "$bin" train "${common[@]}" --update "$upd" --backend vane --out "$tmp/plain-$upd"
    if [ "$upd" = cpu ]; then
        # fault -> (text in the reason, when the switch happens)
        faults="compile@2:compile:start load@3:load:start compile:compile:start framework:framework:start
                eval@100:evaluation:eval eval@200:evaluation:mid"
    else
        faults="compile@2:compile:start eval@200:evaluation:mid"
    fi
    for item in $faults; do
        IFS=: read -r fault text when <<<"$item"
        out="$tmp/$fault-$upd"
        ANE_TRAINER_AUTO_CANDIDATE=ane-sim ANE_TRAINER_SIM_FAULTS="$fault" \
            "$bin" train "${common[@]}" --update "$upd" --backend auto --out "$out" 2>"$out.err" ||
            { echo "auto + fault $fault (update $upd) did not complete:"; cat "$out.err"; exit 1; }
        grep -q "^ane_trainer: warning: .*; continuing on vane$" "$out.err" ||
            { echo "no warning for $fault:"; cat "$out.err"; exit 1; }
        [ "$(grep -c warning "$out.err")" = 1 ] || { cat "$out.err"; exit 1; }
        grep -q "simulated fault '${fault%@*}'" "$out.err"
        # auto chose vane before the programs were built: vane's plain form; else the device's.
        ref="$tmp/vane-$upd" form=device
        if grep -q "is not usable here" "$out.err"; then ref="$tmp/plain-$upd" form=auto; fi
        # eval@100's metrics (switch inside epoch 1's evaluation) are checked below.
        [ "$when" = eval ] || check_metrics "$out/metrics.jsonl" "$ref/metrics.jsonl" "$text" "$when"
        same_ckpt "$out/checkpoint.safetensors" "$ref/checkpoint.safetensors"
        # the checkpoint is a valid one: eval reproduces the run's last accuracy
        acc="$("$bin" eval "$out/checkpoint.safetensors" --backend vane --program-form "$form" --json |
               "$py" -c 'import json,sys; print(json.load(sys.stdin)["test_acc"])')"
        "$py" - "$acc" "$out/metrics.jsonl" <<'PY'
import json, sys
last = [json.loads(l) for l in open(sys.argv[2]) if '"epoch"' in l][-1]
assert abs(float(sys.argv[1]) - last["test_acc"]) < 1e-12, (sys.argv[1], last["test_acc"])
PY
    done
done

# eval@100 fails inside epoch 1's evaluation (after step 78): the fallback line precedes both
# epoch lines, which are written after their evaluations, already on vane.
"$py" - "$tmp/eval@100-cpu/metrics.jsonl" "$tmp/vane-cpu/metrics.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]; b = [json.loads(l) for l in open(sys.argv[2])]
assert [m["event"] for m in a] == ["fallback", "epoch", "epoch"], a
assert a[0]["step"] == 78 and "in the evaluation after step 78" in a[0]["fallback"], a[0]
ea = [m for m in a if m["event"] == "epoch"]; eb = [m for m in b if m["event"] == "epoch"]
assert [(m["train_loss"], m["test_acc"]) for m in ea] == [(m["train_loss"], m["test_acc"]) for m in eb]
assert all(m["backend"] == "vane" and m["fallback"] == a[0]["fallback"] for m in ea)
PY

# Without a fault, auto keeps the candidate and writes no fallback line; no warning.
ANE_TRAINER_AUTO_CANDIDATE=ane-sim "$bin" train "${common[@]}" --backend auto --out "$tmp/ok" 2>"$tmp/ok.err"
! grep -q warning "$tmp/ok.err"
"$py" - "$tmp/ok/metrics.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
assert [m["event"] for m in a] == ["epoch", "epoch"] and all(m["backend"] == "ane-sim" and "fallback" not in m for m in a), a
PY
# On Linux, auto with the real ane candidate takes vane without a warning (nothing failed).
if [ "$(uname -s)" != Darwin ]; then
    "$bin" train --dataset "$data" --epochs 1 --max-steps 3 --quiet --backend auto --out "$tmp/lin" 2>"$tmp/lin.err"
    ! grep -q warning "$tmp/lin.err"
fi

# `eval` under auto falls back the same way.
ANE_TRAINER_AUTO_CANDIDATE=ane-sim ANE_TRAINER_SIM_FAULTS="eval@5" \
    "$bin" eval "$tmp/vane-cpu/checkpoint.safetensors" --backend auto --json >"$tmp/ev.json" 2>"$tmp/ev.err"
grep -q "warning: ane-sim failed in the evaluation" "$tmp/ev.err"
"$py" - "$tmp/ev.json" "$tmp/vane-cpu/metrics.jsonl" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); last = [json.loads(l) for l in open(sys.argv[2]) if '"epoch"' in l][-1]
assert r["backend"] == "vane" and r["test_acc"] == last["test_acc"], (r, last)
PY

# --backend ane-sim named explicitly: a fault is an error (no fallback), with a clear message.
set +e
ANE_TRAINER_SIM_FAULTS="compile@1" "$bin" train "${common[@]}" --backend ane-sim --out "$tmp/x1" 2>"$tmp/x1.err"
rc=$?
set -e
[ "$rc" != 0 ] && grep -q "compiling the train program" "$tmp/x1.err" && grep -q "simulated fault 'compile'" "$tmp/x1.err"
! grep -q "continuing on vane" "$tmp/x1.err"
set +e
ANE_TRAINER_SIM_FAULTS="eval@160" "$bin" train "${common[@]}" --update ane --backend ane-sim --out "$tmp/x2" 2>"$tmp/x2.err"
rc=$?
set -e
[ "$rc" != 0 ] && grep -q "evaluation failed" "$tmp/x2.err" && ! grep -q "continuing on vane" "$tmp/x2.err"
"$py" - "$tmp/x2/metrics.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
assert [m["event"] for m in a] == ["epoch"] and a[0]["backend"] == "ane-sim", a
PY
# The epoch-1 checkpoint is intact: resumed on vane it gives exactly the uninterrupted run.
"$bin" train --resume "$tmp/x2/checkpoint.safetensors" --epochs 2 --backend vane --program-form device --quiet --out "$tmp/x2"
same_ckpt "$tmp/x2/checkpoint.safetensors" "$tmp/vane-ane/checkpoint.safetensors"
echo "train under auto with injected faults: OK"
