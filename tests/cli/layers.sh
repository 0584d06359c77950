#!/usr/bin/env bash
# End-to-end tests of layer-graph models through the CLI: a model with dropout resumed after
# epoch 1 ends epoch 2 exactly as an uninterrupted run (masks depend on seed and step only);
# `eval` reads its checkpoint; `check` and `compile` take a preset; bad specs and a loss that
# cannot fit the output fail with one line.
BIN=${ANET_BIN:?}
DATA=${ANET_SHARED_DIR:?}/datasets/mnist-10k
. "$(dirname "$0")/common.bash"
T=$tmp
M="in:784,linear:32,relu,dropout:0.2,linear:10"

"$BIN" train --dataset "$DATA" --model "$M" --epochs 2 --backend vane --out "$T/a" --quiet || bad "train 2 epochs"
"$BIN" train --dataset "$DATA" --model "$M" --epochs 1 --backend vane --out "$T/b" --quiet || bad "train 1 epoch"
"$BIN" train --resume "$T/b/checkpoint.safetensors" --epochs 2 --backend vane --out "$T/c" --quiet || bad "resume"
a=$(grep '"epoch":2' "$T/a/metrics.jsonl" | sed 's/"epoch_seconds.*//')
c=$(grep '"epoch":2' "$T/c/metrics.jsonl" | sed 's/"epoch_seconds.*//')
if [ -n "$a" ] && [ "$a" = "$c" ]; then ok "dropout model: resume = uninterrupted ($a)"; else bad "resume differs: '$a' vs '$c'"; fi
"$BIN" eval "$T/a/checkpoint.safetensors" --backend vane >"$T/out" 2>&1 && grep -q "dropout:0.2" "$T/out" && ok "eval" || { bad "eval"; cat "$T/out"; }

"$BIN" check lenet5 >"$T/out" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q "max_pool" "$T/out"; then ok "check lenet5 -> 0, lists max_pool"; else bad "check lenet5 -> $rc"; fi
"$BIN" compile --model lenet5 --backend vane --out "$T/cmp" >"$T/out" 2>&1 && [ -s "$T/cmp/train/model.mil" ] && ok "compile lenet5" || { bad "compile lenet5"; cat "$T/out"; }

for spec in "mlp:20-16-1" "conv:8x3x3:d2,flatten,linear:10" "in:4,linear:3,softmax" "maxpool:14,flatten,linear:10"; do
    "$BIN" train --dataset "$DATA" --model "$spec" --epochs 1 --out "$T/x" >"$T/out" 2>"$T/err"
    rc=$?
    if [ $rc != 0 ] && [ "$(wc -l <"$T/err")" = 1 ]; then ok "train --model $spec -> $rc: $(cat "$T/err")"; else bad "train --model $spec -> $rc"; cat "$T/err"; fi
done
exit $fail
