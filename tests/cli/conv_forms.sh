#!/usr/bin/env bash
# A conv model in the program forms (docs/mil.md, train/lower_conv.h): under the strict rule set
# (ANE_TRAINER_FORMS=strict: every rule on, one input per program) on ane-sim m1 and m4 it
# compiles, breaks no rule, trains, and its losses match vane's plain-conv programs within
# fp16 tolerance: the first step's loss (same weights, same batch: only roundings differ)
# within 1%, the mean loss of steps 11-20 within 3% (the runs drift apart by fp16 rounding of
# different but equivalent programs). compile --chip writes plan.json naming the rules. A conv
# model takes its recommended defaults for the flags not given, says so in one line, and stores
# them in the checkpoint; an mlp: model keeps the general defaults.
bin="${ANET_BIN:?}"
data="${ANET_SHARED_DIR:?}/datasets/mnist-10k"
. "$(dirname "$0")/common.bash"
set -eo pipefail
py=$PY
M="conv:4x5x5:s2,relu,maxpool:2,conv:8x3x3:pad1,relu,flatten,linear:10"
# batchnorm in the device forms: channels last for its statistics, the batch unpadded (32);
# grouped and depthwise convs: the weight spread block-diagonally inside the program
MB="conv:8x3x3:pad1,batchnorm,relu,maxpool:2,flatten,linear:16,batchnorm,relu,linear:10"
MG="conv:8x3x3:pad1,relu,conv:16x3x3:pad1:g4,relu,maxpool:2,conv:16x3x3:pad1:dw,relu,flatten,linear:10"
# a strided conv after another: its input gradient spreads the output gradient by the stride
# with multiplies (a placement matmul's contraction, the output width 14, would break
# matmul-contraction-32)
MS="conv:8x3x3:pad1,relu,conv:16x3x3:s2:pad1,relu,flatten,linear:10"
for k in "" b g s; do
    model=$M; [ "$k" = b ] && model=$MB; [ "$k" = g ] && model=$MG; [ "$k" = s ] && model=$MS
    common=(--dataset "$data" --model "$model" --epochs 1 --max-steps 20 --batch-size 32 --log-steps 1 --seed 3 --quiet)
    "$bin" train "${common[@]}" --backend vane --out "$tmp/${k}vane"
    for chip in m1 m4; do
        ANE_TRAINER_FORMS=strict "$bin" train "${common[@]}" --backend ane-sim --chip "$chip" --out "$tmp/$k$chip"
    done
done
# batchnorm's statistics would count padded samples: a batch of 16 is refused on a device, in one line
! "$bin" train --dataset "$data" --model "$MB" --epochs 1 --batch-size 16 --backend ane-sim --chip m1 --out "$tmp/b16" 2>"$tmp/b16.err"
[ "$(wc -l <"$tmp/b16.err")" -eq 1 ] && grep -q "at batch 16: padded samples would count in batchnorm's statistics" "$tmp/b16.err" \
    && grep -q "multiple of 32" "$tmp/b16.err" || { cat "$tmp/b16.err"; exit 1; }
# Recommended defaults (the checkpoint stores them as any option: docs/training.md).
"$bin" train --dataset "$data" --model "$M" --epochs 1 --backend vane --max-steps 2 --log-steps 1 --out "$tmp/d" 2>"$tmp/d.err" >/dev/null
grep -q "model $M: its recommended defaults --batch-size 16 --lr 0.002 --schedule cosine" "$tmp/d.err" || { cat "$tmp/d.err"; exit 1; }
grep -q '"lr":0.002' "$tmp/d/metrics.jsonl"
"$bin" train --dataset "$data" --model "$M" --epochs 1 --backend vane --max-steps 2 --batch-size 64 --schedule constant \
    --out "$tmp/e" 2>"$tmp/e.err" >/dev/null
grep -q "its recommended defaults --lr 0.002 (flags given" "$tmp/e.err" && grep -q "batch 64" "$tmp/e.err" || { cat "$tmp/e.err"; exit 1; }
"$bin" train --dataset "$data" --model mlp:784-16-10 --epochs 1 --backend vane --max-steps 2 --out "$tmp/f" 2>"$tmp/f.err" >/dev/null
! grep -q "recommended defaults" "$tmp/f.err" && grep -q "lr 0.001; batch 128" "$tmp/f.err" || { cat "$tmp/f.err"; exit 1; }
echo "ok: recommended defaults for a conv model only, flags given win"
# vane runs a layer graph's plain form, which is no chip's program: --chip m1 or strict there
# does not refuse it by that chip's rules (they apply to the device forms above).
for chip in m1 strict; do
    "$bin" train --dataset "$data" --model "$M" --epochs 1 --backend vane --chip "$chip" --max-steps 2 --quiet --out "$tmp/v$chip"
done
echo "ok: vane trains the plain form under --chip m1 and strict"
# --program-form device: vane runs the device form itself, with ane-sim's losses bit for bit.
for k in "" s; do
    model=$M; [ "$k" = s ] && model=$MS
    c2=(--dataset "$data" --model "$model" --epochs 1 --max-steps 6 --batch-size 32 --log-steps 1 --seed 3 --quiet --chip m1)
    "$bin" train "${c2[@]}" --backend vane --program-form device --out "$tmp/${k}vdev"
    "$bin" train "${c2[@]}" --backend ane-sim --out "$tmp/${k}sdev"
    [ "$(grep -c '"step"' "$tmp/${k}vdev/metrics.jsonl")" = 6 ] || { echo "vane --program-form device: no step lines"; exit 1; }
    [ "$(grep '"step"' "$tmp/${k}vdev/metrics.jsonl" | grep -o '"train_loss":[0-9.e-]*')" = \
      "$(grep '"step"' "$tmp/${k}sdev/metrics.jsonl" | grep -o '"train_loss":[0-9.e-]*')" ] || { echo "vane device form differs from ane-sim ($model)"; exit 1; }
done
echo "ok: vane --program-form device gives ane-sim's losses"

ANE_TRAINER_FORMS=strict "$bin" compile --model "$M" --chip m1 --batch-size 32 --backend ane-sim --out "$tmp/c" >/dev/null
ANE_TRAINER_FORMS=strict "$bin" compile --model "$MS" --chip m1 --batch-size 32 --backend ane-sim --out "$tmp/cs" >/dev/null

"$py" - "$tmp" <<'PY'
import json, os, sys
t = sys.argv[1]
def losses(run):
    ms = [json.loads(l) for l in open(os.path.join(t, run, "metrics.jsonl"))]
    steps = [m for m in ms if m.get("event") == "step"]
    assert len(steps) == 20, (run, len(steps))
    for m in steps:
        assert m["backend"] == ("vane" if run.endswith("vane") else "ane-sim"), m
    return [m["train_loss"] for m in steps]
for k in ["", "b", "g", "s"]:
  v = losses(k + "vane")
  for chip in ["m1", "m4"]:
    a = losses(k + chip)
    first = abs(a[0] - v[0]) / v[0]
    late_v, late_a = sum(v[10:]) / 10, sum(a[10:]) / 10
    late = abs(late_a - late_v) / late_v
    assert first < 0.01, (k, chip, a[0], v[0])
    assert late < 0.03, (k, chip, late_a, late_v)
    assert late_a < sum(a[:3]) / 3 - 0.05, ("does not train", k, chip, a)
    print(f"ok: {dict(b='batchnorm ', g='grouped conv ', s='strided conv after a conv ').get(k, '')}{chip} strict: step-1 loss {a[0]:.4f} vs vane {v[0]:.4f} ({first:.1e}); steps 11-20 {late_a:.4f} vs {late_v:.4f} ({late:.1e})")
for c in ["c", "cs"]:
  plan = json.load(open(os.path.join(t, c, "plan.json")))
  for p in plan["programs"]:
    assert p["compiled"] is True, (c, p["name"], p.get("compile_error"))
    f = p["forms"]
    assert not f["unmet"], (c, f)
    assert {"matmul-contraction-32", "max-inputs", "runtime-input-layout-ops"} <= set(f["shaped_by"]), f
    convs = [o for o in open(os.path.join(t, c, p["mil"])).read().splitlines() if "= conv(" in o]
    assert convs, p["name"]
  print("ok: compile --chip m1 (strict) of %s: no unmet rule; shaped by" % dict(c="M", cs="MS")[c], plan["programs"][0]["forms"]["shaped_by"])
PY
