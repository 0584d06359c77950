#!/usr/bin/env bash
# Hostile and mismatched transformer checkpoints: `train --resume` and `generate` on a truncated
# file, a flipped byte, tensors of the wrong shape, another model, another vocabulary, metadata
# out of range, and a prompt outside the vocabulary each fail with one line and a non-zero exit.
# A tiny text (6 characters) keeps every run well under a second.
source "$(dirname "$0")/common.bash"
BIN=${ANET_BIN:?}
cd "$tmp" || exit 1
"$PY" -c "import random; r = random.Random(1); open('a.txt', 'w').write(''.join(r.choice('abcde\n') for _ in range(3000)))"
"$PY" -c "import random; r = random.Random(2); open('b.txt', 'w').write(''.join(r.choice('vwxyz\n') for _ in range(3000)))"
M="transformer:layers=1,dim=8,heads=1,ctx=4"
"$BIN" train --dataset a.txt --model "$M" --batch-size 2 --max-steps 2 --val-windows 4 --backend vane --quiet --out run \
    || bad "train"
C=run/checkpoint.safetensors
# edit.py IN OUT EXPR: the checkpoint's header h (tensors and __metadata__) and data d as a dict
# of name -> bytes, changed by EXPR, written back with fresh checksums (only EXPR's change differs).
cat >edit.py <<'PY'
import json, struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
meta = h.pop('__metadata__')
d = {k: b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]] for k, v in h.items()}
exec(sys.argv[3])
out, at = {}, 0
for k, v in h.items():
    out[k] = dict(v, data_offsets=[at, at + len(d[k])]); at += len(d[k])
    meta['checksum.' + k] = 'crc32:%08x' % zlib.crc32(d[k])
out['__metadata__'] = meta
js = json.dumps(out).encode(); js += b' ' * (-len(js) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(js)) + js + b''.join(d[k] for k in h))
PY
one() { # NAME COMMAND...: fails with exactly one line on stderr
    local name=$1; shift
    "$@" >out 2>err
    local rc=$?
    if [ $rc != 0 ] && [ $rc -lt 128 ] && [ "$(wc -l <err)" = 1 ]; then ok "$name -> $rc: $(cat err)"; else bad "$name -> $rc"; cat err; fi
}
resume() { "$BIN" train --resume "$1" --dataset "${2:-a.txt}" --max-steps 4 --val-windows 4 --backend vane --quiet --out "r$RANDOM"; }

"$PY" edit.py "$C" same.safetensors "pass" && resume same.safetensors && ok "rewritten checkpoint resumes" || bad "edit.py round trip"
head -c 20000 "$C" >trunc.safetensors
one "resume truncated" resume trunc.safetensors
"$PY" edit.py "$C" shape.safetensors "d['ane.hi.tok_emb'] = d['ane.hi.tok_emb'][:-16]; h['ane.hi.tok_emb']['shape'] = [len(d['ane.hi.tok_emb']) // 2]"
one "resume with a tensor of another shape" resume shape.safetensors
"$PY" edit.py "$C" gone.safetensors "del h['ane.m.head_b'], d['ane.m.head_b']; del meta['checksum.ane.m.head_b']"
one "resume with a tensor missing" resume gone.safetensors
one "resume as another model" "$BIN" train --resume "$C" --dataset a.txt --model "transformer:layers=1,dim=16,heads=1,ctx=4" \
    --max-steps 4 --val-windows 4 --backend vane --quiet --out r2
one "resume with another --update" "$BIN" train --resume "$C" --dataset a.txt --update cpu --max-steps 4 --val-windows 4 \
    --backend vane --quiet --out r3
one "resume on a text of another vocabulary" resume "$C" b.txt
"$PY" edit.py "$C" good.safetensors "meta['good_steps'] = '1000000000000'"
one "resume with good_steps 1e12" resume good.safetensors
# a checkpoint naming a model of billions of parameters without their tensors is refused for
# what it lacks before anything of that size (tens of GB: out of memory) is allocated
"$PY" edit.py "$C" huge.safetensors "meta['model'] = 'transformer:layers=16,dim=4096,heads=64,ctx=4'"
one "resume of a huge model without its tensors" resume huge.safetensors
grep -Eq "missing or of another size|saved in the plain program form" err || bad "huge model: $(cat err)"
"$PY" edit.py "$C" rng.safetensors "meta['data_rng'] = 'x' * 64"
one "resume with a data_rng that is not hex" resume rng.safetensors
"$PY" edit.py "$C" scale.safetensors "meta['loss_scale'] = 'nan'"
one "resume with loss_scale nan" resume scale.safetensors

one "generate truncated" "$BIN" generate trunc.safetensors --tokens 4
"$PY" -c "import sys; b = bytearray(open(sys.argv[1], 'rb').read()); b[-100] ^= 0x40; open('flip.safetensors', 'wb').write(b)" "$C"
one "generate with a flipped byte" "$BIN" generate flip.safetensors --tokens 4
"$BIN" generate shape.safetensors --tokens 4 >out && ok "generate reads only the weights (optimizer state of another shape: generates)" || bad "generate shape.safetensors"
"$PY" edit.py "$C" wshape.safetensors "d['head_w'] = d['head_w'][:-4]; h['head_w']['shape'] = [len(d['head_w']) // 4, 1]"
one "generate with a weight of another shape" "$BIN" generate wshape.safetensors --tokens 4
"$PY" edit.py "$C" big.safetensors "meta['model'] = 'transformer:layers=16,dim=4096,heads=64,ctx=4096'"
one "generate, a huge model named with small tensors" "$BIN" generate big.safetensors --tokens 4
"$PY" edit.py "$C" voc.safetensors "meta['vocab'] = 'zz'"
one "generate, vocab not hex" "$BIN" generate voc.safetensors --tokens 4
one "generate, prompt outside the vocabulary" "$BIN" generate "$C" --prompt "abq" --tokens 4
"$BIN" generate "$C" --prompt "abc" --tokens 4 >out && [ "$(head -c 3 out)" = abc ] && ok "generate" || bad "generate"
# the layer-graph commands given a transformer checkpoint say what takes it
for cmd in eval export predict check; do
    case $cmd in export) extra=(--out x.mlpackage) ;; predict) extra=(a.txt) ;; *) extra=() ;; esac
    one "$cmd of a transformer checkpoint" "$BIN" $cmd "$C" "${extra[@]}"
    grep -q "taken only by train and generate" err || bad "$cmd: $(cat err)"
done
exit $fail
