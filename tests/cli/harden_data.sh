#!/usr/bin/env bash
# Memory and data bounds of issue 16 (item 2): eval never reads the training split, and a plan
# whose estimated memory is over --max-memory fails before allocating; the estimate bounds what
# a run really takes (peak RSS measured here with getrusage). Env: ANET_BIN, ANET_SHARED_DIR.
. "$(dirname "$0")/common.bash"
unset ANE_TRAINER_DATA
cd "$tmp"
M10K="$ANET_SHARED_DIR/datasets/mnist-10k"
COMMON=(--dataset "$M10K" --backend vane --quiet)

# 1. eval reads only the test split: a dataset whose training images are garbage evaluates.
"$ANET_BIN" train "${COMMON[@]}" --model mlp:784-16-10 --batch-size 250 --epochs 1 --out run 2>err || bad "train: $(cat err)"
mkdir ds
for f in "$M10K"/t10k-*; do ln -s "$f" ds/; done
head -c 5000 /dev/urandom >ds/train-images-idx3-ubyte
cp "$M10K"/train-labels-idx1-ubyte* ds/
timeout 60 "$ANET_BIN" eval run/checkpoint.safetensors --dataset "$tmp/ds" --backend vane >out 2>err \
  && grep -q "test_acc\|accuracy" out && ok "eval ignores the training split: $(head -1 out)" \
  || bad "eval read the training split: $(cat err)"

# 2. The memory budget: refused before allocating, with one line naming estimate and budget.
timeout 60 "$ANET_BIN" train "${COMMON[@]}" --model mlp:784-4096-4096-10 --max-memory 300M --out big >out 2>err
rc=$?
[ $rc -ne 0 ] && grep -q "over the memory budget of 314.6 MB (--max-memory)" err && [ "$(wc -l <err)" = 1 ] \
  && [ ! -e big ] && ok "over --max-memory: $(cat err)" || bad "--max-memory: rc $rc: $(cat err)"
"$ANET_BIN" train --max-memory lots "${COMMON[@]}" >out 2>err; rc=$?
[ $rc -eq 64 ] && grep -q "expected a size" err && ok "bad --max-memory value" || bad "bad --max-memory: rc $rc $(cat err)"

# 3. The estimate bounds the real peak: a budget of the measured peak RSS refuses the same plan.
cat >rss.py <<'PYEOF'
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if r.returncode: sys.exit('run failed: ' + r.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
PYEOF
# (Not under AddressSanitizer: its shadow memory and redzones are no part of the estimate.)
plans=("mlp:784-2048-2048-10 cpu 512" "mlp:784-1024-1024-10 ane 128")
if grep -q "^ANET_SANITIZE:BOOL=ON" "${ANET_BUILD_DIR:-/nonexistent}/CMakeCache.txt" 2>/dev/null; then
  echo "skip: peak RSS against the estimate (sanitizer build)"; plans=()
fi
for plan in "${plans[@]}"; do
  set -- $plan
  rss=$($PY rss.py "$ANET_BIN" train "${COMMON[@]}" --model $1 --update $2 --batch-size $3 --epochs 1 --max-steps 2 \
        --out "rss_$2_$3") || { bad "run $plan: $rss"; continue; }
  "$ANET_BIN" train "${COMMON[@]}" --model $1 --update $2 --batch-size $3 --max-memory "$rss" --out "r2_$2_$3" \
    --epochs 1 --max-steps 1 >out 2>err
  rc=$?
  [ $rc -ne 0 ] && grep -q "over the memory budget" err && ok "estimate of $plan exceeds its peak RSS of $rss bytes" \
    || bad "$plan: peak RSS $rss bytes is over the estimate (rc $rc): $(cat err)"
done
exit $fail
