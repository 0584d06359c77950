#!/usr/bin/env bash
# End-to-end: `ane_trainer train|eval|compile` on vane with a small model on mnist-10k
# (env: ANET_BIN, ANET_SHARED_DIR). Oracles: /usr/bin/python3 reads the JSONL and the
# safetensors files itself (no code of ours), and compares runs byte for byte.
. "$(dirname "$0")/common.bash"
unset ANE_TRAINER_DATA
cd "$tmp"
M10K="$ANET_SHARED_DIR/datasets/mnist-10k"
# Small and fast: 10,000 samples / 250 = 40 steps per epoch.
COMMON=(--dataset "$M10K" --model mlp:784-16-10 --batch-size 250 --backend vane --quiet)

# Compares tensors (and optionally metadata keys) of two safetensors files, parsed here.
cat >st.py <<'PYEOF'
import json, struct, sys
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop('__metadata__', {})
    data = b[8 + n:]
    return {k: (v['dtype'], v['shape'], data[v['data_offsets'][0]:v['data_offsets'][1]]) for k, v in h.items()}, meta
a, ma = load(sys.argv[1]); b, mb = load(sys.argv[2])
if a.keys() != b.keys(): sys.exit('tensor names differ: %s vs %s' % (sorted(a), sorted(b)))
for k in a:
    if a[k] != b[k]: sys.exit('tensor %s differs' % k)
for k in sys.argv[3:]:
    if ma.get(k) != mb.get(k): sys.exit('metadata %s differs: %s vs %s' % (k, ma.get(k), mb.get(k)))
print('%d tensors identical' % len(a))
PYEOF

# Metrics without the timing keys, one JSON object per line.
cat >m.py <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    for k in ('epoch_seconds', 'samples_per_s', 'host_us_per_step'): d.pop(k, None)
    print(json.dumps(d, sort_keys=True))
PYEOF

# --help of each subcommand.
for c in train eval compile; do
  "$ANET_BIN" $c --help >out 2>err && grep -q "usage: ane_trainer $c" out && ok "$c --help" || bad "$c --help"
done
grep -q "M4" <("$ANET_BIN" train --help) && ok "train --help explains the m4 default" || bad "train --help chip"

# 1. A short run: metrics JSONL valid with the documented keys, a checkpoint per epoch.
"$ANET_BIN" train "${COMMON[@]}" --epochs 2 --seed 7 --out run1 --log-steps 10 2>err1
rc=$?
[ $rc -eq 0 ] && ok "train 2 epochs" || bad "train exit $rc: $(cat err1)"
$PY - run1/metrics.jsonl <<'PYEOF' && ok "metrics keys and values" || bad "metrics content"
import json, math, sys
need = ['event', 'epoch', 'step', 'train_loss', 'test_acc', 'epoch_seconds', 'samples_per_s', 'backend',
        'compiles', 'dispatches', 'dispatches_per_step', 'bytes_per_step', 'host_us_per_step', 'loss_scale', 'skipped_steps',
        'update', 'chip']
lines = [json.loads(l) for l in open(sys.argv[1])]
ep = [d for d in lines if d['event'] == 'epoch']
st = [d for d in lines if d['event'] == 'step']
assert len(ep) == 2, ep
assert len(st) == 8, len(st)  # 40 steps per epoch, a line every 10
for d in ep:
    missing = [k for k in need if k not in d]
    assert not missing, missing
    assert d['backend'] == 'vane' and d['update'] == 'cpu' and d['chip'] == 'm4'
    assert 0.5 < d['test_acc'] <= 1.0, d['test_acc']
    assert d['train_loss'] > 0 and math.isfinite(d['train_loss'])
    assert d['compiles'] == 2, d['compiles']          # train + eval, compiled once
    assert d['dispatches_per_step'] == 1.0, d['dispatches_per_step']
    assert d['bytes_per_step'] > 0 and d['loss_scale'] > 0 and d['skipped_steps'] >= 0
assert [d['step'] for d in ep] == [40, 80]
assert ep[1]['train_loss'] < ep[0]['train_loss'] + 0.05
print('epoch 2 test_acc', ep[1]['test_acc'])
PYEOF
[ -f run1/checkpoint.safetensors ] && ok "checkpoint written" || bad "no checkpoint"
ls run1 | grep -q tmp && bad "temp files left in run1" || ok "no temp files"

# 2. Same seed, same backend: identical metrics except timings.
"$ANET_BIN" train "${COMMON[@]}" --epochs 2 --seed 7 --out run2 --log-steps 10 2>err2 || bad "second run: $(cat err2)"
if cmp -s <($PY m.py run1/metrics.jsonl) <($PY m.py run2/metrics.jsonl); then ok "same seed -> same metrics"
else bad "same seed, metrics differ"; diff <($PY m.py run1/metrics.jsonl) <($PY m.py run2/metrics.jsonl) | head; fi
$PY st.py run1/checkpoint.safetensors run2/checkpoint.safetensors >/dev/null && ok "same seed -> same weights" || bad "same seed, weights differ"
"$ANET_BIN" train "${COMMON[@]}" --epochs 1 --seed 8 --out run3 2>/dev/null
cmp -s <(head -c 100000 run1/checkpoint.safetensors) <(head -c 100000 run3/checkpoint.safetensors) \
  && bad "another seed gives the same checkpoint" || ok "another seed differs"

# 3. 2 epochs straight == 1 epoch + resume for 1, bit for bit (weights, optimizer state, step, loss).
"$ANET_BIN" train "${COMMON[@]}" --epochs 1 --seed 7 --out half 2>err || bad "1 epoch: $(cat err)"
"$ANET_BIN" train "${COMMON[@]}" --epochs 2 --resume half/checkpoint.safetensors --out half2 --metrics half2/m.jsonl 2>err \
  && ok "resume" || bad "resume: $(cat err)"
out=$($PY st.py run1/checkpoint.safetensors half2/checkpoint.safetensors step epoch loss_scale data_epoch data_index rng 2>&1) \
  && ok "2 epochs == 1 + resume 1: $out" || bad "resume differs: $out"
$PY - run1/metrics.jsonl half2/m.jsonl <<'PYEOF' && ok "resumed epoch 2 metrics equal" || bad "resumed metrics differ"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1]) if '"epoch"' in l and json.loads(l)['event'] == 'epoch']
b = [json.loads(l) for l in open(sys.argv[2]) if json.loads(l)['event'] == 'epoch']
assert len(b) == 1 and b[0]['epoch'] == 2
for k in ('train_loss', 'test_acc', 'step', 'loss_scale', 'skipped_steps'):
    assert a[1][k] == b[0][k], (k, a[1][k], b[0][k])
PYEOF
# The loss scaler's growth interval is part of the trajectory: a resume keeps a non-default one
# (the scale starts low so that it grows during both epochs).
LS=(--loss-scale 1 --loss-scale-growth 5 --seed 7)
"$ANET_BIN" train "${COMMON[@]}" "${LS[@]}" --epochs 2 --out gr2 2>err || bad "growth 2 epochs: $(cat err)"
"$ANET_BIN" train "${COMMON[@]}" "${LS[@]}" --epochs 1 --out gr1 2>err || bad "growth 1 epoch: $(cat err)"
"$ANET_BIN" train "${COMMON[@]}" --epochs 2 --resume gr1/checkpoint.safetensors --out gr1r 2>err || bad "growth resume: $(cat err)"
out=$($PY st.py gr2/checkpoint.safetensors gr1r/checkpoint.safetensors step loss_scale loss_scale_growth rng 2>&1) \
  && ok "--loss-scale-growth 5: 2 epochs == 1 + resume 1: $out" || bad "resume with --loss-scale-growth differs: $out"

# Cosine schedules: with the horizon given up front, 2 epochs straight == 1 + resume 1 bit for
# bit; without it a resume keeps the first run's horizon (T = 40 steps here), says so, and its
# rates are the formula's (lr * (1 + cos(pi * min(s, T) / T)) / 2, computed here).
CS=(--schedule cosine --lr 0.01 --seed 3)
"$ANET_BIN" train "${COMMON[@]}" "${CS[@]}" --schedule-steps 80 --epochs 2 --out cs2 2>err || bad "cosine 2 epochs: $(cat err)"
"$ANET_BIN" train "${COMMON[@]}" "${CS[@]}" --schedule-steps 80 --epochs 1 --out cs1 2>err || bad "cosine 1 epoch: $(cat err)"
"$ANET_BIN" train "${COMMON[@]}" --epochs 2 --resume cs1/checkpoint.safetensors --out cs1r 2>err || bad "cosine resume: $(cat err)"
out=$($PY st.py cs2/checkpoint.safetensors cs1r/checkpoint.safetensors step schedule_steps rng 2>&1) \
  && ok "cosine --schedule-steps 80: 2 epochs == 1 + resume 1: $out" || bad "cosine resume differs: $out"
"$ANET_BIN" train --dataset "$M10K" --model mlp:784-16-10 --batch-size 250 --backend vane "${CS[@]}" --epochs 1 \
  --out ch1 2>err >/dev/null || bad "cosine horizon run: $(cat err)"
"$ANET_BIN" train --dataset "$M10K" --backend vane --epochs 2 --resume ch1/checkpoint.safetensors --out ch1r \
  --log-steps 1 2>err >/dev/null || bad "cosine horizon resume: $(cat err)"
grep -q "horizon stays at 40 steps" err && ok "resume with another --epochs warns that the horizon stays" \
  || bad "no horizon warning: $(cat err)"
$PY - ch1r/metrics.jsonl ch1r/checkpoint.safetensors <<'PYEOF' && ok "resumed cosine keeps T=40 (rates from the formula)" || bad "resumed cosine horizon"
import json, math, struct, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)['event'] == 'step']
assert len(steps) == 40, len(steps)
for r in steps:
    s = r['step'] - 1
    want = 0.01 * 0.5 * (1 + math.cos(math.pi * min(s, 40) / 40))
    assert abs(r['lr'] - want) <= 1e-9 + 1e-6 * want, (r['step'], r['lr'], want)
b = open(sys.argv[2], 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
assert json.loads(b[8:8 + n])['__metadata__']['schedule_steps'] == '40'
PYEOF

# 4. update=ane: trains, and its resume is exact too.
"$ANET_BIN" train "${COMMON[@]}" --epochs 2 --seed 3 --update ane --out ane2 2>err || bad "update ane: $(cat err)"
"$ANET_BIN" train "${COMMON[@]}" --epochs 1 --seed 3 --update ane --out ane1 2>err || bad "update ane 1: $(cat err)"
"$ANET_BIN" train "${COMMON[@]}" --epochs 2 --resume ane1/checkpoint.safetensors --out ane1r 2>err || bad "update ane resume: $(cat err)"
out=$($PY st.py ane2/checkpoint.safetensors ane1r/checkpoint.safetensors step rng 2>&1) && ok "update=ane resume exact: $out" || bad "update=ane resume: $out"
$PY -c "import json,sys; d=[json.loads(l) for l in open('ane2/metrics.jsonl')][-1]; assert d['update']=='ane' and d['test_acc']>0.5, d" \
  && ok "update=ane learns" || bad "update=ane accuracy"

# 4b. Dynamic loss scaling: a diverging run (sgd, lr 20) overflows; every overflow halves the
# scale and skips the step, and the metrics say so (scale = 2^15 / 2^skipped while nothing grows).
for u in cpu ane; do
  "$ANET_BIN" train "${COMMON[@]}" --epochs 1 --batch-size 500 --optimizer sgd --lr 20 --update $u --log-steps 1 \
    --out div$u 2>err || bad "diverging run ($u): $(cat err)"
  $PY - div$u/metrics.jsonl <<'PYEOF' && ok "loss scaling on overflow (update=$u)" || bad "loss scaling (update=$u)"
import json, sys
st = [json.loads(l) for l in open(sys.argv[1])]
st = [d for d in st if d['event'] == 'step']
assert len(st) == 20
assert st[-1]['skipped_steps'] > 0, st[-1]
for d in st:
    assert d['loss_scale'] == max(32768.0 / 2 ** d['skipped_steps'], 2.0 ** -14), d
prev = 0
for d in st:  # a step with a non-finite loss is always skipped
    if d['train_loss'] is None: assert d['skipped_steps'] == prev + 1, d
    prev = d['skipped_steps']
PYEOF
done

# 4c. The whole update=cpu chain against PyTorch: a 64-sample dataset, one step per epoch, vane in
# fp32 numerics (fp16 only at the surfaces). After step 1 (checkpoint) two more steps (resume) must
# match float64 PyTorch (Adam from the checkpoint's m, v, t; gradients at the fp16 copies of the
# weights, passed through fp16 at the loss scale as the program outputs them).
$PY - "$M10K" tiny <<'PYEOF' || bad "tiny dataset"
import gzip, os, struct, sys
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for img, lab, n in (('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 64), ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', 64)):
    b = gzip.open(os.path.join(src, img + '.gz')).read()
    gzip.open(os.path.join(dst, img + '.gz'), 'wb').write(struct.pack('>IIII', 0x803, n, 28, 28) + b[16:16 + n * 784])
    b = gzip.open(os.path.join(src, lab + '.gz')).read()
    gzip.open(os.path.join(dst, lab + '.gz'), 'wb').write(struct.pack('>II', 0x801, n) + b[8:8 + n])
PYEOF
T=(--dataset tiny --model mlp:784-16-10 --batch-size 64 --backend vane --numerics fp32 --quiet --lr 0.01)
"$ANET_BIN" train "${T[@]}" --epochs 1 --seed 5 --out tiny1 2>err || bad "tiny step 1: $(cat err)"
"$ANET_BIN" train "${T[@]}" --epochs 3 --resume tiny1/checkpoint.safetensors --out tiny3 2>err || bad "tiny steps 2-3: $(cat err)"
$PY - tiny tiny1/checkpoint.safetensors tiny3/checkpoint.safetensors <<'PYEOF' && ok "update=cpu steps match PyTorch float64 Adam" || bad "update=cpu vs PyTorch"
import gzip, json, struct, sys
import numpy as np, torch
def load(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n]); meta = h.pop('__metadata__')
    t = {k: torch.tensor(np.frombuffer(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]], dtype=np.float32).reshape(v['shape']).astype(np.float64)) for k, v in h.items()}
    return t, meta
d = sys.argv[1]
px = np.frombuffer(gzip.open(d + '/train-images-idx3-ubyte.gz').read()[16:], dtype=np.uint8).reshape(64, 784)
y = torch.tensor(np.frombuffer(gzip.open(d + '/train-labels-idx1-ubyte.gz').read()[8:], dtype=np.uint8).astype(np.int64))
x = torch.tensor((px.astype(np.float32) / np.float32(255)).astype(np.float16).astype(np.float64))
s1, m1 = load(sys.argv[2]); s3, m3 = load(sys.argv[3])
assert m1['optimizer_steps'] == '1' and m3['optimizer_steps'] == '3', (m1['optimizer_steps'], m3['optimizer_steps'])
S = float(m1['loss_scale']); lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
names = ['w0', 'b0', 'w1', 'b1']
w = {k: s1[k].clone() for k in names}; m = {k: s1['opt.m.' + k].clone() for k in names}; v = {k: s1['opt.v.' + k].clone() for k in names}
f16 = lambda t: torch.tensor(t.numpy().astype(np.float16).astype(np.float64))
for t in (2, 3):
    p = {k: f16(w[k]).requires_grad_() for k in names}
    z = torch.relu(x @ p['w0'].T + p['b0']) @ p['w1'].T + p['b1']
    torch.nn.functional.cross_entropy(z, y).backward()
    for k in names:
        g = f16(p[k].grad * S) / S
        m[k] = b1 * m[k] + (1 - b1) * g; v[k] = b2 * v[k] + (1 - b2) * g * g
        w[k] = w[k] - lr / (1 - b1 ** t) * m[k] / (v[k].sqrt() / (1 - b2 ** t) ** 0.5 + eps)
worst = max(float((w[k] - s3[k]).abs().max()) for k in names)
moved = max(float((s3[k] - s1[k]).abs().max()) for k in names)
print('max |w - torch| = %.3g (weights moved up to %.3g)' % (worst, moved))
assert moved > 1e-3 and worst < 2e-5, (worst, moved)
PYEOF

# 5. eval of a checkpoint agrees with the training run's last test accuracy.
"$ANET_BIN" eval run1/checkpoint.safetensors --dataset "$M10K" --backend vane --json >ev 2>err || bad "eval: $(cat err)"
# A registry name given with --data DIR may resolve to DIR itself: eval says which files it read.
"$ANET_BIN" eval run1/checkpoint.safetensors --dataset fashion-mnist --data "$M10K" --backend vane >evd 2>err \
  && grep -q "on fashion-mnist from $M10K " evd && ok "eval names the directory read" || bad "eval dir: $(cat evd err)"
$PY - ev run1/metrics.jsonl <<'PYEOF' && ok "eval == training's test_acc" || bad "eval accuracy differs"
import json, sys
e = json.load(open(sys.argv[1]))
m = [json.loads(l) for l in open(sys.argv[2])][-1]
assert abs(e['test_acc'] - m['test_acc']) < 1e-12 and e['samples'] == 10000, (e, m['test_acc'])
PYEOF

# 6. kill -9 during an epoch: the last checkpoint stays intact and --resume finishes the run.
"$ANET_BIN" train --dataset "$M10K" --model mlp:784-16-10 --batch-size 20 --backend vane --quiet --epochs 50 \
  --seed 1 --out killed 2>/dev/null &
pid=$!
for i in $(seq 1 600); do [ -f killed/checkpoint.safetensors ] && break; sleep 0.05; done
sleep 0.3
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -f killed/checkpoint.safetensors ]; then
  "$ANET_BIN" eval killed/checkpoint.safetensors --dataset "$M10K" --backend vane >/dev/null 2>err \
    && ok "checkpoint intact after kill -9" || bad "checkpoint damaged: $(cat err)"
  ep=$($PY -c "
import json,struct; b=open('killed/checkpoint.safetensors','rb').read(); n=struct.unpack('<Q',b[:8])[0]
print(json.loads(b[8:8+n])['__metadata__']['epoch'])")
  # What a kill during the write itself leaves (a pid that has ended), and a live writer's
  # temporary (this shell's pid), which must survive.
  bash -c 'exit 0' & dead=$!; wait $dead
  touch killed/checkpoint.safetensors.tmp.$dead.Ab12Cd killed/checkpoint.safetensors.tmp.$$.Xy34Zw
  "$ANET_BIN" train --resume killed/checkpoint.safetensors --dataset "$M10K" --backend vane --quiet \
    --epochs $((ep + 1)) --out killed 2>err && ok "resume after kill -9 (from epoch $ep)" || bad "resume after kill: $(cat err)"
  [ "$($PY m.py killed/metrics.jsonl | tail -1 | $PY -c 'import json,sys; print(json.load(sys.stdin)["epoch"])')" = "$((ep + 1))" ] \
    && ok "resumed run reached epoch $((ep + 1))" || bad "resumed run epoch"
  [ -e killed/checkpoint.safetensors.tmp.$dead.Ab12Cd ] && bad "stale temp file kept" || ok "stale temp file removed"
  [ -e killed/checkpoint.safetensors.tmp.$$.Xy34Zw ] && ok "a live writer's temp file kept" || bad "live temp file removed"
  "$ANET_BIN" train --dataset "$M10K" --model mlp:784-16-10 --batch-size 20 --backend vane --quiet --epochs $((ep + 1)) \
    --seed 1 --out unkilled 2>err || bad "uninterrupted run: $(cat err)"
  out=$($PY st.py unkilled/checkpoint.safetensors killed/checkpoint.safetensors step rng 2>&1) \
    && ok "killed + resumed == uninterrupted: $out" || bad "killed + resumed differs: $out"
else
  bad "no checkpoint before the kill"
fi

# 7. Bad input: one clear line on stderr, non-zero exit.
one_line() { # name, expected text, command...
  local name=$1 want=$2; shift 2
  "$@" >out 2>err
  local rc=$?
  if [ $rc -ne 0 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q -- "$want" err; then ok "$name -> $rc: $(cat err)"
  else bad "$name (rc=$rc, want '$want'): $(cat err)"; fi
}
one_line "unknown model spec" "model" "$ANET_BIN" train --dataset "$M10K" --model resnet:50 --out bad1 --quiet
one_line "feature mismatch" "features" "$ANET_BIN" train --dataset "$M10K" --model mlp:100-16-10 --out bad2 --quiet
one_line "class mismatch" "classes" "$ANET_BIN" train --dataset "$M10K" --model mlp:784-16-7 --out bad2 --quiet
one_line "unwritable --out" "/dev/null/x" "$ANET_BIN" train --dataset "$M10K" --model mlp:784-16-10 --out /dev/null/x --quiet
head -c 300 run1/checkpoint.safetensors >trunc.safetensors
one_line "truncated checkpoint" "trunc.safetensors" "$ANET_BIN" train "${COMMON[@]}" --resume trunc.safetensors --out bad3
printf 'garbage that is not a checkpoint at all' >junk.safetensors
one_line "garbage checkpoint" "junk.safetensors" "$ANET_BIN" eval junk.safetensors --dataset "$M10K"
one_line "checkpoint of another model" "checkpoint is mlp:784-16-10, --model is mlp:784-32-10" \
  "$ANET_BIN" train "${COMMON[@]}" --model mlp:784-32-10 --resume run1/checkpoint.safetensors --out bad4
one_line "missing checkpoint" "nope.safetensors" "$ANET_BIN" eval nope.safetensors
one_line "unknown dataset" "no-such-set" "$ANET_BIN" train --dataset no-such-set --out bad5 --quiet
one_line "bad --lr" "--lr" "$ANET_BIN" train --lr fast
one_line "unknown option" "--frobnicate" "$ANET_BIN" train --frobnicate
# One batch-size limit (the ANE's 16384 columns) for every subcommand, said up front.
for c in train eval compile; do
  one_line "$c --batch-size 16385" "--batch-size '16385': expected an integer in 1..16384" \
    "$ANET_BIN" $c --batch-size 16385 --model mlp:784-16-10 --dataset "$M10K" --out bs$c --quiet
done
one_line "unknown backend" "warp" "$ANET_BIN" train "${COMMON[@]}" --backend warp --out bad6
# Checkpoint metadata edited here (python rewrites the header): every inconsistent or
# out-of-range value is one FORMAT error naming its key, before any training.
cat >setmeta.py <<'PYEOF'
import json, struct, sys
b = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
for kv in sys.argv[3:]:
    k, v = kv.split('=', 1); h['__metadata__'][k] = v
hb = json.dumps(h).encode(); hb += b' ' * (-len(hb) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(hb)) + hb + b[8 + n:])
PYEOF
bad_meta() { # name, expected text, key=value...
  local name=$1 want=$2; shift 2
  $PY setmeta.py run1/checkpoint.safetensors meta.safetensors "$@"
  one_line "$name" "$want" "$ANET_BIN" train "${COMMON[@]}" --epochs 3 --resume meta.safetensors --out badmeta
}
bad_meta "data_epoch 2^64-1" "data_epoch" data_epoch=18446744073709551615 data_index=0 epoch=0
bad_meta "data_epoch ahead of epoch" "data_epoch" data_epoch=5
bad_meta "data_index inside a finished epoch" "data_index" data_index=250
bad_meta "optimizer_steps 2^63-1" "optimizer_steps" optimizer_steps=9223372036854775807
bad_meta "step 2^64-1" "metadata step" step=18446744073709551615
bad_meta "skipped_steps -1" "skipped_steps" skipped_steps=-1
bad_meta "loss_scale inf" "loss_scale" loss_scale=inf
bad_meta "loss_scale 0" "loss_scale" loss_scale=0
bad_meta "lr inf" "metadata lr" lr=inf
bad_meta "eps nan" "metadata eps" eps=nan
bad_meta "batch_size 99999999999" "batch_size" batch_size=99999999999
bad_meta "seed abc" "seed" seed=abc
bad_meta "unknown schedule" "schedule" schedule=zigzag
bad_meta "unknown chip" "chip" chip=m9
# A checkpoint saved from in-memory arrays records dataset "": eval and resume ask for --dataset
# instead of guessing the default one.
$PY setmeta.py run1/checkpoint.safetensors nods.safetensors dataset=
one_line "eval, no dataset recorded" "records no dataset" "$ANET_BIN" eval nods.safetensors --backend vane
one_line "resume, no dataset recorded" "records no dataset" "$ANET_BIN" train --resume nods.safetensors --epochs 3 \
  --backend vane --out nods --quiet
"$ANET_BIN" eval nods.safetensors --dataset "$M10K" --backend vane >/dev/null 2>err && ok "eval with --dataset" \
  || bad "eval nods --dataset: $(cat err)"
# A checkpoint naming a large model (237M parameters) but holding no tensors is refused before
# the model is built or initialised: at once, naming the missing parameter.
$PY - <<'PYEOF'
import json, struct
h = {'__metadata__': {'format': 'ane_trainer-checkpoint-1', 'model': 'mlp:784-15000-15000-10', 'batch_size': '250'}}
hb = json.dumps(h).encode(); hb += b' ' * (-len(hb) % 8)
open('big.safetensors', 'wb').write(struct.pack('<Q', len(hb)) + hb)
PYEOF
one_line "large model, no tensors" "parameter w0 is missing" "$ANET_BIN" train --resume big.safetensors --dataset "$M10K" \
  --backend vane --out bigx --quiet
# Peak memory, not time, tells "checked first" from "built the model first": its weights alone
# are 237M floats (~950 MB).
kb=$($PY -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$ANET_BIN" train --resume big.safetensors \
  --dataset "$M10K" --backend vane --out bigx --quiet)
[ "$kb" -lt 400000 ] && ok "refused with peak RSS $kb KiB" || bad "refusing a tensorless checkpoint peaked at $kb KiB (model built first?)"
ls run1 | grep -q tmp && bad "files left behind" || true

# 8. compile: MIL + weight.bin + plan.json per program; a MIL file given on the command line.
"$ANET_BIN" compile --model mlp:784-16-10 --batch-size 64 --out comp >out 2>err && ok "compile --model" || bad "compile: $(cat err)"
for p in train eval; do [ -s comp/$p/model.mil ] && [ -f comp/$p/weights/weight.bin ] || bad "compile: $p files missing"; done
$PY - comp/plan.json <<'PYEOF' && ok "plan.json" || bad "plan.json"
import json, sys
p = json.load(open(sys.argv[1]))
names = [q['name'] for q in p['programs']]
assert names == ['train', 'eval'], names
tr = p['programs'][0]
roles = {i['role'] for i in tr['inputs']}
assert {'x', 'y_onehot', 'param', 'hyper'} <= roles, roles
oroles = [o['role'] for o in tr['outputs']]
assert 'loss' in oroles and oroles.count('grad') == 4, oroles
x = [i for i in tr['inputs'] if i['role'] == 'x'][0]
assert x['shape'] == [1, 800, 1, 64], x  # the chip's form: 784 features padded to 800 (docs/mil.md)
assert all('eligible' in o for o in tr['ops']) and len(tr['ops']) > 10
assert tr.get('compiled') is True, tr.get('compile_error')
PYEOF
"$ANET_BIN" compile --model mlp:784-16-10 --update ane --out compa >out 2>err && grep -q '"opt_state"' compa/plan.json \
  && ok "compile --update ane" || bad "compile --update ane: $(cat err)"
"$ANET_BIN" compile --mil comp/eval/model.mil --out compm >out 2>err && [ -s compm/model.mil ] && [ -s compm/plan.json ] \
  && ok "compile --mil" || bad "compile --mil: $(cat err)"
one_line "compile for a chip that rejects the program" "did not compile" "$ANET_BIN" compile --model mlp:784-16-10 --chip strict --out compm1
$PY -c "import json; p=json.load(open('compm1/plan.json')); assert any(o.get('rule')=='matmul-dynamic' for o in p['programs'][0]['ops'])" \
  && ok "plan.json names the rule (matmul-dynamic on strict)" || bad "plan.json strict rule"
one_line "compile without --out" "--out" "$ANET_BIN" compile --model mlp:4-2
printf 'program(1.3)\n{ func main<ios18>(tensor<fp16, [1' >broken.mil
one_line "compile of a broken MIL file" "broken.mil" "$ANET_BIN" compile --mil broken.mil --out compb

exit $fail
