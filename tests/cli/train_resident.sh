#!/usr/bin/env bash
# --update ane on ane-sim keeps the weights and optimizer state in the backend's ping-pong
# surfaces: no state bytes are copied per step (metrics), the losses and the checkpoint are
# bit-identical to the copy path (ANE_TRAINER_RESIDENT_STATE=0), and a resume from the epoch-1
# checkpoint (state read back from the surfaces) gives exactly the uninterrupted run; vane
# (host ping-pong) copies no state either and gives the same losses. The batch is packed
# straight into its lent input surface (no batch bytes copied, every CPU write under a write
# lock: the simulator's audit is on), bit-identical to copying it (ANE_TRAINER_BATCH_IN_SURFACE=0).
. "$(dirname "$0")/common.bash"
set -eo pipefail
bin="${ANET_BIN:?}"
data="${ANET_SHARED_DIR:?}/datasets/mnist-10k"
common=(--dataset "$data" --model mlp:784-64-10 --backend ane-sim --chip m1 --update ane --seed 5 --quiet
        --log-steps 1)

ANE_TRAINER_SIM_AUDIT_WRITES=1 "$bin" train "${common[@]}" --epochs 2 --out "$tmp/res"
ANE_TRAINER_RESIDENT_STATE=0 "$bin" train "${common[@]}" --epochs 2 --out "$tmp/copy"
ANE_TRAINER_BATCH_IN_SURFACE=0 "$bin" train "${common[@]}" --epochs 1 --out "$tmp/bcopy"
"$bin" train "${common[@]}" --epochs 1 --out "$tmp/half"
"$bin" train "${common[@]}" --epochs 1 --backend vane --program-form device --out "$tmp/vane"
"$bin" train "${common[@]}" --epochs 2 --out "$tmp/half" --resume "$tmp/half/checkpoint.safetensors"
"$PY" - "$tmp" <<'PY'
import json, struct, sys
d = sys.argv[1]
def lines(run): return [json.loads(l) for l in open(f"{d}/{run}/metrics.jsonl")]
def tensors(run):
    b = open(f"{d}/{run}/checkpoint.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}
res, copy, half, vane, bcopy = lines("res"), lines("copy"), lines("half"), lines("vane"), lines("bcopy")
ep = lambda ls: [m for m in ls if m["event"] == "epoch"]
steps = lambda ls: [(m["step"], m["train_loss"]) for m in ls if m["event"] == "step"]
assert len(ep(res)) == 2 and len(ep(copy)) == 2, (res, copy)
assert all(m["state_bytes_copied_per_step"] == 0 for m in ep(res)), ep(res)
assert all(m["state_bytes_copied_per_step"] > 0 for m in ep(copy)), ep(copy)
assert ep(res)[0]["bytes_per_step"] < ep(copy)[0]["bytes_per_step"], (ep(res)[0], ep(copy)[0])
assert all(m["host_us_per_step"] > 0 for m in ep(res)), ep(res)
assert all(m["state_bytes_copied_per_step"] is None for m in res if m["event"] == "step")
assert steps(res) == steps(copy) and len(steps(res)) > 100, "losses differ from the copy path"
assert [m["test_acc"] for m in ep(res)] == [m["test_acc"] for m in ep(copy)]
assert tensors("res") == tensors("copy"), "checkpoint tensors differ from the copy path"
# The batch: in its surface without a copy (a silent fall back to the copy shows here), the
# same bytes crossing, the same losses as the copy; copied on the copy paths, in place on vane.
assert all(m["batch_bytes_copied_per_step"] == 0 for m in ep(res)), ep(res)
assert all(m["batch_bytes_copied_per_step"] is None for m in res if m["event"] == "step")
assert ep(bcopy)[0]["batch_bytes_copied_per_step"] > 0 and ep(copy)[0]["batch_bytes_copied_per_step"] > 0
assert ep(bcopy)[0]["bytes_per_step"] == ep(res)[0]["bytes_per_step"], (ep(bcopy)[0], ep(res)[0])
assert steps(bcopy) == steps(res)[:len(steps(bcopy))] and len(steps(bcopy)) > 50
assert ep(bcopy)[0]["test_acc"] == ep(res)[0]["test_acc"]
assert ep(vane)[0]["batch_bytes_copied_per_step"] == 0, ep(vane)
# vane: the same pairs as host buffers, no state copied, the same losses.
assert ep(vane)[0]["backend"] == "vane" and ep(vane)[0]["state_bytes_copied_per_step"] == 0, ep(vane)
assert steps(vane) == steps(res)[:len(steps(vane))] and len(steps(vane)) > 50
# The resumed run: the same epoch 2, the same final tensors as the uninterrupted one.
assert ep(half)[-1]["train_loss"] == ep(res)[-1]["train_loss"], (ep(half)[-1], ep(res)[-1])
assert ep(half)[-1]["test_acc"] == ep(res)[-1]["test_acc"]
assert tensors("half") == tensors("res"), "resume is not exact"
PY
# Ctrl-C mid-epoch with the state in the surfaces: the step finishes, the checkpoint holds the
# state read back from them (not the host copy of the last evaluation), and its --resume ends
# bit-identical to the uninterrupted run. Retried with other delays in case the signal lands
# between epochs.
S=(--dataset "$data" --model mlp:784-16-10 --batch-size 8 --backend ane-sim --chip m1 --update ane --epochs 2 --seed 3
   --log-steps 500)
"$bin" train "${S[@]}" --out "$tmp/whole" --quiet
mid=0
set +e
for delay in 0.3 0.6 0.15 0.9; do
    rm -rf "$tmp/cut"
    "$bin" train "${S[@]}" --out "$tmp/cut" 2>"$tmp/cut.err" &
    pid=$!
    for _ in $(seq 1 400); do grep -q "^checkpoints:" "$tmp/cut.err" 2>/dev/null && break; sleep 0.05; done
    sleep $delay
    kill -INT $pid
    wait $pid
    [ $? = 130 ] || continue
    di=$("$PY" -c "
import json,struct,sys; b=open(sys.argv[1],'rb').read(); n=struct.unpack('<Q',b[:8])[0]
print(int(json.loads(b[8:8+n])['__metadata__']['data_index']) % 10000)" "$tmp/cut/checkpoint.safetensors")
    [ "$di" != 0 ] && { mid=1; break; }
done
set -e
[ $mid = 1 ] || { echo "no SIGINT landed mid-epoch"; exit 1; }
"$bin" train "${S[@]}" --out "$tmp/cut" --resume "$tmp/cut/checkpoint.safetensors" --quiet
"$PY" - "$tmp/cut/checkpoint.safetensors" "$tmp/whole/checkpoint.safetensors" <<'PY'
import json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    m = h.pop("__metadata__")
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}, m
(a, ma), (b, mb) = load(sys.argv[1]), load(sys.argv[2])
assert a == b, [k for k in a if a[k] != b.get(k)]
ma.pop("metrics_epoch", None); mb.pop("metrics_epoch", None)
assert ma == mb, {k: (ma[k], mb.get(k)) for k in ma if ma[k] != mb.get(k)}
PY
echo "train --update ane with resident state: OK"
