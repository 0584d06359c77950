#!/usr/bin/env bash
# End-to-end: what a user meets around `ane_trainer train` (issue 15): an existing run is never
# replaced silently, Ctrl-C leaves a checkpoint that --resume continues bit for bit, the
# terminal progress line fits the terminal, near-miss flags get a suggestion, step lines use
# null for figures they do not measure, learning rates print as typed.
# (env: ANET_BIN, ANET_SHARED_DIR). Oracles: files compared byte for byte, JSON read by python.
. "$(dirname "$0")/common.bash"
unset ANE_TRAINER_DATA
cd "$tmp"
M10K="$ANET_SHARED_DIR/datasets/mnist-10k"
COMMON=(--dataset "$M10K" --model mlp:784-16-10 --batch-size 250 --backend vane)

# 1. An existing run is refused (non-zero, one line, byte-identical afterwards).
"$ANET_BIN" train "${COMMON[@]}" --epochs 2 --out run --quiet 2>err || bad "first run: $(cat err)"
sum0=$(cat run/* | md5sum)
"$ANET_BIN" train "${COMMON[@]}" --epochs 1 --out run --quiet 2>err; rc=$?
[ $rc -ne 0 ] && ok "train --out on a run exits $rc" || bad "train --out on a run succeeded"
[ "$(cat run/* | md5sum)" = "$sum0" ] && ok "the run is byte-identical" || bad "the run changed"
[ "$(wc -l <err)" -eq 1 ] && grep -q -- "--resume run/checkpoint.safetensors" err && grep -q -- "--overwrite" err \
  && ok "one line naming --resume and --overwrite" || bad "refusal message: $(cat err)"
"$ANET_BIN" train "${COMMON[@]}" --epochs 1 --out run --quiet --overwrite 2>err && [ "$(wc -l <run/metrics.jsonl)" -eq 1 ] \
  && ok "--overwrite replaces it" || bad "--overwrite: $(cat err)"
"$ANET_BIN" train "${COMMON[@]}" --epochs 2 --out run --quiet --resume run/checkpoint.safetensors 2>err \
  && [ "$(wc -l <run/metrics.jsonl)" -eq 2 ] && ok "--resume continues it" || bad "--resume into the run: $(cat err)"
mkdir empty && "$ANET_BIN" train "${COMMON[@]}" --epochs 1 --out empty --quiet 2>err && ok "an empty --out is fine" \
  || bad "empty --out: $(cat err)"

# 2. SIGINT mid-epoch: finish the step, checkpoint, print the --resume command; running that
#    command ends bit-identical to an uninterrupted run. 2500 steps per epoch, so the signal
#    lands inside one; retried a few times in case the machine is too slow or too fast.
S=(--dataset "$M10K" --model mlp:784-16-10 --batch-size 4 --backend vane --epochs 2 --seed 3 --log-steps 500)
"$ANET_BIN" train "${S[@]}" --out whole --quiet 2>err || bad "uninterrupted: $(cat err)"
mid=0
for delay in 0.2 0.1 0.4 0.05 0.8; do
  rm -rf cut
  "$ANET_BIN" train "${S[@]}" --out cut 2>err &
  pid=$!
  # The header's last line comes after the handler is installed: training starts next.
  for i in $(seq 1 1200); do grep -q "^checkpoints:" err 2>/dev/null && break; sleep 0.05; done
  sleep $delay
  kill -INT $pid
  wait $pid; rc=$?
  [ $rc -eq 130 ] || continue
  di=$($PY -c "
import json,struct; b=open('cut/checkpoint.safetensors','rb').read(); n=struct.unpack('<Q',b[:8])[0]
m=json.loads(b[8:8+n])['__metadata__']; print(int(m['data_index']) % 10000)")
  [ "$di" != 0 ] && { mid=1; break; }
done
if [ $mid = 1 ]; then
  ok "SIGINT mid-epoch: exit 130, checkpoint at sample $di of its epoch"
  grep -q "stopping after the current step" err && ok "first Ctrl-C says it finishes the step" || bad "no stop message"
  cmd=$(grep -A1 "^continue with:" err | tail -1)
  case "$cmd" in *"--resume cut/checkpoint.safetensors"*) ok "prints the --resume command";; *) bad "resume command: $(cat err)";; esac
  eval "\"$ANET_BIN\" ${cmd#*ane_trainer } --quiet" 2>err2 || bad "resume: $(cat err2)"
  # Every tensor and every metadata value equal; only metrics_epoch (the epoch's metrics line,
  # timings included, and a train_loss over the batches after the resume) may differ.
  out=$($PY - cut/checkpoint.safetensors whole/checkpoint.safetensors <<'PYEOF' 2>&1
import json, struct, sys
def load(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
    m = h.pop('__metadata__'); d = b[8 + n:]
    return {k: (v['dtype'], v['shape'], d[v['data_offsets'][0]:v['data_offsets'][1]]) for k, v in h.items()}, m
(a, ma), (b, mb) = load(sys.argv[1]), load(sys.argv[2])
assert a == b, [k for k in a if a[k] != b.get(k)]
ma.pop('metrics_epoch', None); mb.pop('metrics_epoch', None)
assert ma == mb, {k: (ma[k], mb.get(k)) for k in ma if ma[k] != mb.get(k)}
print('%d tensors and %d metadata values identical' % (len(a), len(ma)))
PYEOF
) && ok "interrupted + resumed == uninterrupted: $out" || bad "resumed checkpoint differs from the uninterrupted one: $out"
else
  bad "no SIGINT landed mid-epoch (last exit $rc: $(tail -2 err))"
fi
# A second Ctrl-C exits at once; the last checkpoint stays readable.
rm -rf twice
"$ANET_BIN" train "${S[@]}" --epochs 50 --batch-size 250 --out twice --quiet 2>err &
pid=$!
for i in $(seq 1 400); do [ -f twice/checkpoint.safetensors ] && break; sleep 0.05; done
kill -INT $pid; kill -INT $pid
wait $pid; rc=$?
[ $rc -eq 130 ] && ok "second Ctrl-C: exit 130" || bad "second Ctrl-C exit $rc"
"$ANET_BIN" eval twice/checkpoint.safetensors --backend vane >/dev/null 2>err && ok "checkpoint whole after two Ctrl-C" \
  || bad "checkpoint after two Ctrl-C: $(cat err)"

# 4. On a terminal the progress line fits its width and redraws in place; mid-epoch it shows
#    no test accuracy (the previous epoch's is not current).
for cols in 50 80; do
  COLUMNS=$cols script -qec "\"$ANET_BIN\" train ${COMMON[*]} --epochs 2 --out tty$cols" /dev/null </dev/null >tty.out 2>&1
  $PY - tty.out $cols <<'PYEOF' && ok "tty progress fits $cols columns" || bad "tty progress at $cols columns"
import re, sys
raw = open(sys.argv[1], 'rb').read().decode('utf-8', 'replace')
cols = int(sys.argv[2])
segs = [re.sub(r'\x1b\[K', '', s) for s in re.split(r'[\r\n]+', raw)]
bars = [s for s in segs if s.startswith('epoch ') and '/' in s and 'train_loss' not in s]
assert len(bars) >= 2, segs
assert all(len(s) <= cols - 1 for s in bars), [s for s in bars if len(s) > cols - 1]
assert not any('test_acc' in s for s in bars), bars
PYEOF
done

# 7. Near-miss flags, null in step lines, lr as typed, a short backend line.
"$ANET_BIN" train --batchsize 4 2>err; rc=$?
[ $rc -eq 64 ] && grep -q "did you mean --batch-size?" err && ok "did you mean --batch-size?" || bad "suggestion: $(cat err)"
"$ANET_BIN" eval x.safetensors --datset mnist 2>err; grep -q "did you mean --dataset?" err && ok "eval: did you mean --dataset?" \
  || bad "eval suggestion: $(cat err)"
"$ANET_BIN" train --batch_size 4 2>err; grep -q "did you mean --batch-size?" err && ok "--batch_size suggested too" \
  || bad "underscore suggestion: $(cat err)"
"$ANET_BIN" train "${COMMON[@]}" --epochs 1 --out steps --log-steps 10 --optimizer sgd --lr 0.01 2>err \
  || bad "step lines run: $(cat err)"
$PY - steps/metrics.jsonl <<'PYEOF' && ok "step lines: null for unmeasured figures; lr 0.01" || bad "step line values"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [d for d in lines if d['event'] == 'step']
assert steps
for d in steps:
    for k in ('epoch_seconds', 'samples_per_s', 'dispatches_per_step', 'bytes_per_step', 'host_us_per_step'):
        assert d[k] is None, (k, d[k])
assert isinstance(steps[0]['train_loss'], float)
raw = open(sys.argv[1]).read()
assert '"lr":0.01,' in raw, raw[:400]
PYEOF
grep -q "sgd lr 0.01;" err && ok "lr printed as typed" || bad "lr line: $(grep lr err)"
b=$(grep '^backend:' err)
[ ${#b} -le 80 ] && ok "backend line short: $b" || bad "backend line ${#b} chars: $b"

# Custom IDX datasets take their class count from the labels (3 here, not 10); a relative
# dataset directory is recorded absolute, so eval works from another directory.
$PY - <<'PYEOF' || bad "writing the 3-class IDX set"
import os, struct, random
random.seed(1)
os.makedirs('three', exist_ok=True)
for split, n in (('train', 600), ('t10k', 150)):
    ys = [random.randrange(3) for _ in range(n)]
    px = bytes(min(255, 40 + 80 * y + random.randrange(60)) for y in ys for _ in range(16))
    open('three/%s-images-idx3-ubyte' % split, 'wb').write(struct.pack('>IIII', 0x803, n, 4, 4) + px)
    open('three/%s-labels-idx1-ubyte' % split, 'wb').write(struct.pack('>II', 0x801, n) + bytes(ys))
PYEOF
"$ANET_BIN" train --dataset three --model mlp:16-8-3 --batch-size 50 --epochs 2 --backend vane --out three_run --quiet \
  2>err && ok "a 3-class IDX directory trains mlp:16-8-3" || bad "3-class IDX: $(cat err)"
"$ANET_BIN" train --dataset three --model mlp:16-8-10 --batch-size 50 --epochs 1 --backend vane --out three10 --quiet \
  2>err; grep -q "3 classes" err && ok "and says it has 3 classes to a 10-output model" || bad "class mismatch: $(cat err)"
mkdir -p elsewhere && (cd elsewhere && "$ANET_BIN" eval ../three_run/checkpoint.safetensors --backend vane >out 2>err) \
  && ok "eval from another directory finds the dataset (recorded absolute)" || bad "eval elsewhere: $(cat elsewhere/err)"

exit $fail
