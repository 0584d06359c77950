#!/usr/bin/env bash
# Program forms per chip (docs/mil.md): `compile --chip X` writes programs whose every input and
# output is fp16 [1,C,1,S] with S a multiple of 32, in the chip's dialect, with plan.json naming
# the rules that shaped them; `train --backend ane-sim --chip X` trains under the chip's quirks
# (and under both row layouts), compiles constant in steps, also under the strict set (with the
# optimizer on the device too). Short runs (one epoch or a few steps); the 10-epoch numbers are in docs/mil.md.
set -euo pipefail
bin="${ANET_BIN:?}"
data="${ANET_SHARED_DIR:?}/datasets/mnist-10k"
py=/usr/bin/python3
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for chip in m1 m2 m3 m4; do
    "$bin" compile --model mlp:784-128-10 --chip "$chip" --backend ane-sim --out "$tmp/c-$chip" >/dev/null
    "$py" - "$tmp/c-$chip" "$chip" <<'PY'
import json, sys, os
d, chip = sys.argv[1], sys.argv[2]
plan = json.load(open(os.path.join(d, "plan.json")))
want = "ios18" if chip == "m4" else "ios16"
assert [p["name"] for p in plan["programs"]] == ["train", "eval"], plan["programs"]
for p in plan["programs"]:
    assert p["compiled"] is True, (chip, p["name"], p.get("compile_error"))
    for io in p["inputs"] + p["outputs"]:
        s = io["shape"]
        assert len(s) == 4 and s[0] == 1 and s[2] == 1 and s[3] % 32 == 0 and io["dtype"] == "fp16", (chip, p["name"], io)
    f = p["forms"]
    assert f["dialect"] == want and not f["unmet"], (chip, f)
    assert {"io-shape-1c1s", "matmul-contraction-32"} <= set(f["shaped_by"]), f
    mil = open(os.path.join(d, p["mil"])).read()
    assert ("program(1.0)" if want == "ios16" else "program(1.3)") in mil and f"main<{want}>" in mil
x = [i for i in plan["programs"][0]["inputs"] if i["role"] == "x"][0]
assert x["shape"] == [1, 800, 1, 128], x  # 784 features padded to 800
PY
done

# One epoch per chip on ane-sim (update=cpu) and a few steps with the optimizer on the device.
for chip in m1 m2 m3 m4; do
    "$bin" train --backend ane-sim --chip "$chip" --dataset "$data" --epochs 1 --seed 5 --quiet --out "$tmp/t-$chip"
    "$bin" train --backend ane-sim --chip "$chip" --dataset "$data" --epochs 1 --seed 5 --quiet --update ane \
        --max-steps 20 --out "$tmp/u-$chip"
done
"$bin" train --backend vane --program-form device --dataset "$data" --epochs 1 --seed 5 --quiet --out "$tmp/vane"
# vane's default, the plain form (the model's own sizes): the same computation, summed in
# other blocks; its checkpoint records the form it ran.
"$bin" train --backend vane --dataset "$data" --epochs 1 --seed 5 --quiet --out "$tmp/plain"
grep -q '"program_form":"auto"' "$tmp/plain/checkpoint.safetensors"
grep -q '"program_form":"device"' "$tmp/vane/checkpoint.safetensors"
# The header names the programs run.
"$bin" train --backend vane --dataset "$data" --epochs 1 --max-steps 1 --out "$tmp/hdr1" 2>"$tmp/hdr1.err" >/dev/null
"$bin" train --backend vane --program-form device --chip m2 --dataset "$data" --epochs 1 --max-steps 1 --out "$tmp/hdr2" \
    2>"$tmp/hdr2.err" >/dev/null
grep -q "; program form plain$" "$tmp/hdr1.err" && grep -q "; program form m2$" "$tmp/hdr2.err" ||
    { cat "$tmp/hdr1.err" "$tmp/hdr2.err"; exit 1; }
# Row layouts: packed and 64-byte-strided readings both train to the same result; so does the
# strict set (one input per program, the loss seeded by rows).
ANE_TRAINER_FORMS=row-layout=packed "$bin" train --backend ane-sim --chip m1 --dataset "$data" --epochs 1 --seed 5 \
    --quiet --out "$tmp/packed"
ANE_TRAINER_FORMS=strict "$bin" train --backend ane-sim --chip m1 --dataset "$data" --epochs 1 \
    --seed 5 --quiet --out "$tmp/strict1"
"$py" - "$tmp" <<'PY'
import json, sys, os
t = sys.argv[1]
def last(run):
    ms = [json.loads(l) for l in open(os.path.join(t, run, "metrics.jsonl"))]
    return [m for m in ms if m.get("event") == "epoch"][-1]
v = last("vane")
p = last("plain")
assert p["backend"] == "vane" and p["bytes_per_step"] < v["bytes_per_step"], (p, v)
assert abs(p["train_loss"] - v["train_loss"]) < 2e-3 * v["train_loss"] and abs(p["test_acc"] - v["test_acc"]) <= 0.005, (p, v)
for run in ["t-m1", "t-m2", "t-m3", "t-m4", "packed", "strict1"]:
    m = last(run)
    assert m["backend"] == "ane-sim", m
    # The padded forms are the same computation: identical to vane running them.
    assert m["test_acc"] == v["test_acc"] and m["train_loss"] == v["train_loss"], (run, m, v)
    assert m["test_acc"] >= 0.85, m
    assert m["compiles"] == 2, m  # train + eval, whatever the number of steps
PY

# The strict set with the optimizer on the device: the per-step scalars are rows, the flag a
# row of 32 (no scalar broadcast) and the one packed input stays within the elementwise limit;
# it trains exactly as m1's own form does.
for f in strict m1-default; do
    ANE_TRAINER_FORMS=$([ "$f" = strict ] && echo strict || true) "$bin" train --backend ane-sim --chip m1 --update ane \
        --dataset "$data" --epochs 1 --max-steps 12 --seed 5 --quiet --log-steps 4 --out "$tmp/ua-$f"
done
"$py" - "$tmp/ua-strict/metrics.jsonl" "$tmp/ua-m1-default/metrics.jsonl" <<'PY'
import json, sys
a, b = ([(m["step"], m["train_loss"]) for m in map(json.loads, open(p)) if m["event"] == "step"] for p in sys.argv[1:])
assert len(a) == 3 and a == b, (a, b)
PY
# A bad switch is one clear error.
set +e
ANE_TRAINER_FORMS=no-such-rule=on "$bin" train --backend ane-sim --dataset "$data" --epochs 1 --out "$tmp/bad" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" != 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "unknown rule 'no-such-rule'" "$tmp/err"
echo "forms: OK"
