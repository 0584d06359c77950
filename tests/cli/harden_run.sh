#!/usr/bin/env bash
# Hostile surroundings of a training run (issue 16): FIFOs instead of input files, symlinks
# planted among the outputs, two trainers on one directory, a crash between checkpoint and
# metrics line, a full disk. Every case must end quickly with one clear error or a consistent
# result (env: ANET_BIN, ANET_SHARED_DIR).
. "$(dirname "$0")/common.bash"
mnt=""
trap '[ -n "$mnt" ] && umount "$mnt" 2>/dev/null; rm -rf "$tmp"' EXIT # also the full-disk mount
unset ANE_TRAINER_DATA
cd "$tmp"
M10K="$ANET_SHARED_DIR/datasets/mnist-10k"
COMMON=(--dataset "$M10K" --model mlp:784-16-10 --batch-size 250 --backend vane --quiet)
# Runs a command with a deadline: a hang is a failure, not a stuck test suite.
T() { timeout 60 "$@"; }

"$ANET_BIN" train "${COMMON[@]}" --epochs 1 --seed 3 --out base 2>err || bad "base run: $(cat err)"

# 1. FIFOs: refused before anything blocks on them.
mkfifo fifo.safetensors
T "$ANET_BIN" eval fifo.safetensors --dataset "$M10K" --backend vane >out 2>err
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "not a regular file (a FIFO)" err && [ "$(wc -l <err)" = 1 ] \
  && ok "eval on a FIFO: $(cat err)" || bad "eval on a FIFO: rc $rc: $(cat err)"
T "$ANET_BIN" train "${COMMON[@]}" --epochs 2 --resume fifo.safetensors --out r_fifo >out 2>err
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "not a regular file (a FIFO)" err \
  && ok "train --resume on a FIFO: $(cat err)" || bad "train --resume on a FIFO: rc $rc: $(cat err)"

# 2. Symlinks planted among the outputs are never followed.
echo "precious" >target.txt
mkdir -p sl && ln -s "$tmp/target.txt" sl/metrics.jsonl
T "$ANET_BIN" train "${COMMON[@]}" --epochs 1 --out sl --overwrite >out 2>err
rc=$?
[ $rc -ne 0 ] && grep -q "symlink" err && [ "$(cat target.txt)" = precious ] \
  && ok "metrics.jsonl symlink refused: $(cat err)" || bad "metrics.jsonl symlink: rc $rc, target '$(cat target.txt)': $(cat err)"
mkdir -p sp
# The probe's name carries the pid: exec keeps the pid of the shell that planted the link.
T bash -c 'ln -s "$1/target.txt" "sp/.write-test.$$"; exec "$0" train --dataset "$2" --model mlp:784-16-10 \
  --batch-size 250 --backend vane --quiet --epochs 1 --out sp' "$ANET_BIN" "$tmp" "$M10K" >out 2>err
rc=$?
[ "$(cat target.txt)" = precious ] && ok "write probe symlink not followed (rc $rc)" \
  || bad "write probe symlink followed: target now '$(cat target.txt)'"
mkdir -p cp && ln -s "$tmp/target.txt" cp/plan.json
T "$ANET_BIN" compile --model mlp:784-16-10 --out cp >out 2>err
rc=$?
[ $rc -ne 0 ] && [ "$(cat target.txt)" = precious ] && grep -q symlink err \
  && ok "compile plan.json symlink refused: $(cat err)" || bad "compile plan.json symlink: rc $rc: $(cat err)"

# 3. Two trainers on one directory: the second is refused, the first finishes intact.
"$ANET_BIN" train "${COMMON[@]}" --epochs 3 --out two 2>err_a &
pid=$!
for _ in $(seq 1 200); do [ -f two/metrics.jsonl ] && break; sleep 0.05; done
T "$ANET_BIN" train "${COMMON[@]}" --epochs 3 --out two --overwrite >out 2>err_b
rc=$?
wait $pid
rc_a=$?
[ $rc -ne 0 ] && grep -q "in use by another trainer" err_b && [ "$(wc -l <err_b)" = 1 ] \
  && ok "second trainer refused: $(cat err_b)" || bad "second trainer: rc $rc: $(cat err_b)"
[ $rc_a -eq 0 ] && [ "$(grep -c '"event":"epoch"' two/metrics.jsonl)" = 3 ] \
  && ok "first trainer intact" || bad "first trainer: rc $rc_a, $(cat err_a)"

# 4. Metrics agree with the checkpoint after a crash at any point.
epochs() { $PY -c 'import json,sys; print(" ".join(str(json.loads(l)["epoch"]) for l in open(sys.argv[1]) if json.loads(l)["event"]=="epoch"))' "$1"; }
# (a) killed after an epoch line whose checkpoint never landed (the old order): the resume
#     must not repeat it; a torn last line goes too.
cp -r base crashA
$PY - crashA/metrics.jsonl <<'PYEOF'
import json, sys
l = json.loads(open(sys.argv[1]).readline())
l2 = dict(l, epoch=2, step=l['step'] * 2)
with open(sys.argv[1], 'a') as f:
    f.write(json.dumps(dict(l2, event='step', step=l['step'] + 5)) + '\n')
    f.write(json.dumps(l2) + '\n')
    f.write('{"event":"ste')
PYEOF
T "$ANET_BIN" train "${COMMON[@]}" --epochs 2 --resume crashA/checkpoint.safetensors --out crashA 2>err \
  || bad "resume A: $(cat err)"
[ "$(epochs crashA/metrics.jsonl)" = "1 2" ] && ok "no duplicate epoch after resume" \
  || bad "epochs after resume A: $(epochs crashA/metrics.jsonl)"
$PY -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' crashA/metrics.jsonl \
  && ok "every metrics line is JSON" || bad "torn metrics line kept"
# (b) killed after the checkpoint, before its epoch line: the resume restores the line.
cp -r base crashB
: >crashB/metrics.jsonl
T "$ANET_BIN" train "${COMMON[@]}" --epochs 2 --resume crashB/checkpoint.safetensors --out crashB 2>err \
  || bad "resume B: $(cat err)"
[ "$(epochs crashB/metrics.jsonl)" = "1 2" ] && ok "lost epoch line restored from the checkpoint" \
  || bad "epochs after resume B: $(epochs crashB/metrics.jsonl)"
cmp -s <(head -1 base/metrics.jsonl) <(head -1 crashB/metrics.jsonl) && ok "restored line is the original" \
  || bad "restored line differs"

# 5. A disk without room for one checkpoint fails before training, not after an epoch.
if [ "$(id -u)" = 0 ] && mkdir -p small && mount -t tmpfs -o size=1m tmpfs small 2>/dev/null; then
  mnt="$tmp/small"
  start=$(date +%s)
  T "$ANET_BIN" train "${COMMON[@]}" --model mlp:784-256-10 --epochs 1 --out small/run >out 2>err
  rc=$?
  [ $rc -ne 0 ] && grep -q "bytes free" err && [ ! -s small/run/metrics.jsonl ] \
    && ok "full disk refused up front: $(cat err)" || bad "full disk: rc $rc: $(cat err)"
  umount small && mnt=""
else
  echo "skip: full-disk case needs root to mount a small tmpfs"
fi

# 6. Checkpoint values: non-finite weights, negative second moments and flipped bits are
#    refused by eval and --resume, naming the tensor; messages name the file once.
cat >edit.py <<'PYEOF'
import json, struct, sys
src, dst, what = sys.argv[1:4]
b = open(src, 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n]); data = bytearray(b[8 + n:])
meta = h['__metadata__']
def at(name, k=0): return h[name]['data_offsets'][0] + 4 * k
if what == 'nan':
    data[at('w0', 3):at('w0', 3) + 4] = struct.pack('<f', float('nan'))
elif what == 'negv':
    data[at('opt.v.b0', 1):at('opt.v.b0', 1) + 4] = struct.pack('<f', -1e-3)
elif what == 'flip':
    data[at('w1', 2)] ^= 0x01
elif what == 'nob0':
    off = h['b0']['data_offsets']; ln = off[1] - off[0]
    del h['b0']; data = data[:off[0]] + data[off[1]:]
    for v in h.values():
        if isinstance(v, dict) and 'data_offsets' in v and v['data_offsets'][0] >= off[1]:
            v['data_offsets'] = [v['data_offsets'][0] - ln, v['data_offsets'][1] - ln]
if what != 'flip':  # written as an older version would: no checksums
    h['__metadata__'] = {k: v for k, v in meta.items() if not k.startswith('checksum.')}
hj = json.dumps(h).encode(); hj += b' ' * (-len(hj) % 8)
open(dst, 'wb').write(struct.pack('<Q', len(hj)) + hj + bytes(data))
PYEOF
for case in nan:"tensor w0 holds a non-finite value at element 3" negv:"tensor opt.v.b0 (a second moment) holds a negative value" \
            flip:"tensor w1 does not match its checksum"; do
  name=${case%%:*}; want=${case#*:}
  $PY edit.py base/checkpoint.safetensors $name.safetensors $name
  T "$ANET_BIN" eval $name.safetensors --dataset "$M10K" --backend vane >out 2>err
  rc=$?
  [ $rc -ne 0 ] && grep -qF "$want" err && ok "eval refuses $name: $(cat err)" || bad "eval $name: rc $rc: $(cat err)"
  T "$ANET_BIN" train "${COMMON[@]}" --epochs 2 --resume $name.safetensors --out r_$name >out 2>err
  rc=$?
  [ $rc -ne 0 ] && grep -qF "$want" err && ok "resume refuses $name" || bad "resume $name: rc $rc: $(cat err)"
done
$PY edit.py base/checkpoint.safetensors nob0.safetensors nob0
T "$ANET_BIN" eval nob0.safetensors --dataset "$M10K" --backend vane >out 2>err
[ "$(grep -o 'checkpoint nob0.safetensors' err | wc -l)" = 1 ] && grep -q "parameter b0 is missing" err \
  && ok "prefix once: $(cat err)" || bad "prefix repeated: $(cat err)"

# 7. One limit for warmup steps: what train accepts, its own --resume accepts.
T "$ANET_BIN" train "${COMMON[@]}" --epochs 1 --schedule warmup --warmup-steps 9007199254740993 --out w1 >out 2>err
rc=$?
[ $rc -eq 64 ] && grep -q "0..2^53" err && ok "warmup over 2^53 refused: $(cat err)" || bad "warmup 2^53+1: rc $rc: $(cat err)"
T "$ANET_BIN" train "${COMMON[@]}" --epochs 1 --schedule warmup --warmup-steps 9007199254740992 --out w2 2>err \
  && T "$ANET_BIN" train "${COMMON[@]}" --epochs 2 --resume w2/checkpoint.safetensors --out w2 2>err \
  && ok "warmup 2^53 trains and resumes" || bad "warmup 2^53: $(cat err)"

exit $fail
