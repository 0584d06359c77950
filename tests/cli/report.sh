#!/usr/bin/env bash
# End-to-end: `train --val-split --save-best --train-acc --tensorboard` and `report` (issue 15).
# Oracles written here from the formats: the HTML is parsed (html.parser) and its plotted numbers
# compared with metrics.jsonl; TensorBoard event files are read by a TFRecord + protobuf reader
# written in this test (CRC-32C included); the confusion matrix is recomputed from eval.json;
# where Debian's chromium is installed, the page is rendered headless and the screenshot decoded
# (PNG, zlib) and checked for drawn content. (env: ANET_BIN, ANET_SHARED_DIR)
. "$(dirname "$0")/common.bash"
cd "$tmp"
M10K="$ANET_SHARED_DIR/datasets/mnist-10k"
COMMON=(--dataset "$M10K" --model mlp:784-16-10 --batch-size 250 --backend vane --quiet)

"$ANET_BIN" train "${COMMON[@]}" --epochs 3 --lr 0.003 --val-split 0.1 --save-best --train-acc --tensorboard tb \
  --log-steps 6 --out run 2>err || bad "train: $(cat err)"

# --val-split: 9000 training samples (36 steps of 250), val figures on 1000; --save-best.
$PY - run <<'PYEOF' && ok "val-split, train_acc and save-best" || bad "val-split/save-best"
import json, struct, sys
d = sys.argv[1]
ep = [json.loads(l) for l in open(d + '/metrics.jsonl') if '"epoch"' in l and json.loads(l)['event'] == 'epoch']
assert [e['step'] for e in ep] == [36, 72, 108], [e['step'] for e in ep]
for e in ep:
    assert 0 < e['val_acc'] <= 1 and e['val_loss'] > 0 and 0 < e['train_acc'] <= 1, e
    assert abs(e['val_acc'] * 1000 - round(e['val_acc'] * 1000)) < 1e-9  # a count over 1000 samples
def meta(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n])['__metadata__']
best = max(ep, key=lambda e: (e['val_acc'], -e['epoch']))
m = meta(d + '/best.safetensors')
assert int(m['epoch']) == best['epoch'] and float(m['best_metric']) == best['val_acc'], (m, best)
assert meta(d + '/checkpoint.safetensors')['val_split'] == '0.10000000000000001'
PYEOF

# A resume keeps the split (from the checkpoint) and goes on.
"$ANET_BIN" train "${COMMON[@]}" --epochs 4 --resume run/checkpoint.safetensors --out run --tensorboard tb 2>err \
  && [ "$($PY -c "import json; print([json.loads(l) for l in open('run/metrics.jsonl')][-1]['step'])")" = 144 ] \
  && ok "resume keeps --val-split" || bad "resume with val split: $(cat err)"

# TensorBoard: the event file parses (framing, CRCs, protobuf) and holds metrics.jsonl's numbers.
$PY - tb run/metrics.jsonl <<'PYEOF' && ok "tensorboard event file parses and matches metrics" || bad "tensorboard events"
import glob, json, struct, sys
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    return c ^ 0xFFFFFFFF
def mask(c):
    return (((c >> 15) | (c << 17)) + 0xa282ead8) & 0xFFFFFFFF
def varint(b, i):
    v = s = 0
    while True:
        x = b[i]; i += 1
        v |= (x & 0x7F) << s; s += 7
        if x < 0x80: return v, i
def fields(b):
    i, out = 0, []
    while i < len(b):
        k, i = varint(b, i)
        f, w = k >> 3, k & 7
        if w == 0: v, i = varint(b, i)
        elif w == 1: v = b[i:i + 8]; i += 8
        elif w == 5: v = b[i:i + 4]; i += 4
        elif w == 2:
            n, i = varint(b, i); v = b[i:i + n]; i += n
        else: raise ValueError('wire type %d' % w)
        out.append((f, w, v))
    return out
files = glob.glob(sys.argv[1] + '/events.out.tfevents.*')
assert len(files) == 2, files  # one per run (the resume made the second)
events = []
for fn in sorted(files):
    b = open(fn, 'rb').read()
    i = 0
    while i < len(b):
        n = struct.unpack('<Q', b[i:i + 8])[0]
        assert struct.unpack('<I', b[i + 8:i + 12])[0] == mask(crc32c(b[i:i + 8])), 'length crc'
        data = b[i + 12:i + 12 + n]
        assert struct.unpack('<I', b[i + 12 + n:i + 16 + n])[0] == mask(crc32c(data)), 'data crc'
        i += 16 + n
        events.append(fields(data))
first = dict((f, v) for f, w, v in events[0])
assert first[3] == b'brain.Event:2' and struct.unpack('<d', first[1])[0] > 1.7e9, first
scal = {}
for ev in events[1:]:
    d = {f: v for f, w, v in ev}
    if 3 in d:  # the second run's file starts with its own file_version event
        assert d[3] == b'brain.Event:2'; continue
    step = d[2]
    for f, w, val in fields(d[5]):
        assert f == 1
        v = {ff: vv for ff, ww, vv in fields(val)}
        scal[(v[1].decode(), step)] = struct.unpack('<f', v[2])[0]
f32 = lambda x: struct.unpack('<f', struct.pack('<f', x))[0]
lines = [json.loads(l) for l in open(sys.argv[2])]
n = 0
for l in lines:
    pre = {'epoch': 'epoch', 'step': 'step'}.get(l['event'])
    if not pre: continue
    for key, tag in (('train_loss', 'loss'), ('test_acc', 'test_acc'), ('val_acc', 'val_acc'), ('lr', 'lr'),
                     ('train_acc', 'train_acc'), ('val_loss', 'val_loss'), ('host_us_per_step', 'host_us_per_step'),
                     ('state_bytes_copied_per_step', 'state_bytes_copied_per_step')):
        if l.get(key) is None: continue
        assert scal[(pre + '/' + tag, l['step'])] == f32(l[key]), (pre, tag, l)
        n += 1
assert n > 30, n
PYEOF

# report: one HTML file, no script and nothing fetched; the curves hold metrics.jsonl's numbers.
"$ANET_BIN" report run >out 2>err && [ "$(cat out)" = run/report.html ] && ok "report writes run/report.html" \
  || bad "report: $(cat err)"
$PY - run <<'PYEOF' && ok "report structure and numbers equal metrics.jsonl and eval.json" || bad "report content"
import json, sys
from html.parser import HTMLParser
d = sys.argv[1]
html = open(d + '/report.html', encoding='utf-8').read()
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.tags = []; self.chart = None; self.series = {}; self.counts = []; self.imgs = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs); self.tags.append((tag, a))
        if tag == 'svg' and a.get('class') == 'chart': self.chart = a['data-chart']
        if tag == 'g' and 'data-series' in a:
            xs = [float(v) for v in a['data-x'].split()]; ys = [float(v) for v in a['data-y'].split()]
            self.series[(self.chart, a['data-series'])] = (xs, ys)
        if tag == 'td' and 'data-count' in a: self.counts.append(int(a['data-count']))
        if tag == 'img': self.imgs.append(a['src'])
p = P(); p.feed(html)
tags = [t for t, a in p.tags]
assert 'script' not in tags and 'link' not in tags and 'iframe' not in tags
for t, a in p.tags:
    for k in ('src', 'href'):
        assert not a.get(k, '').startswith(('http:', 'https:', '//')), (t, a)
charts = [a['data-chart'] for t, a in p.tags if t == 'svg']
assert {'loss', 'accuracy', 'lr', 'samples_per_s'} <= set(charts), charts
assert tags.count('polyline') >= 6, tags.count('polyline')
lines = [json.loads(l) for l in open(d + '/metrics.jsonl')]
ep = [l for l in lines if l['event'] == 'epoch']; st = [l for l in lines if l['event'] == 'step']
def same(key, xs, ys, rows, xk, yk):
    assert xs == [float(r[xk]) for r in rows] and ys == [float(r[yk]) for r in rows], (key, ys, [r[yk] for r in rows])
same('step loss', *p.series[('loss', 'train loss (step)')], st, 'step', 'train_loss')
same('epoch loss', *p.series[('loss', 'train loss (epoch mean)')], ep, 'step', 'train_loss')
same('val loss', *p.series[('loss', 'val loss (epoch)')], [e for e in ep if 'val_loss' in e], 'step', 'val_loss')
same('test acc', *p.series[('accuracy', 'test accuracy')], ep, 'epoch', 'test_acc')
same('val acc', *p.series[('accuracy', 'val accuracy')], [e for e in ep if 'val_acc' in e], 'epoch', 'val_acc')
same('lr', *p.series[('lr', 'lr (step)')], st, 'step', 'lr')
same('sps', *p.series[('samples_per_s', 'samples/s')], ep, 'epoch', 'samples_per_s')
host = [e for e in ep if e.get('host_us_per_step') is not None]
assert (('host_us_per_step', 'host \u00b5s per step') in p.series) == bool(host)
# Confusion matrix: from eval.json's labels and predictions; its trace is the last test_acc.
ev = json.load(open(d + '/eval.json'))
K, n = ev['classes'], len(ev['labels'])
cm = [0] * (K * K)
for y, q in zip(ev['labels'], ev['pred']): cm[y * K + q] += 1
assert p.counts == cm, 'confusion matrix'
assert sum(cm[i * K + i] for i in range(K)) / n == ep[-1]['test_acc'] and ev['epoch'] == ep[-1]['epoch']
wrong = sum(1 for y, q in zip(ev['labels'], ev['pred']) if y != q)
assert len(p.imgs) == min(48, wrong) and all(s.startswith('data:image/bmp;base64,') for s in p.imgs)
prog = [a for t, a in p.tags if t == 'table' and a.get('class') == 'programs']
assert prog and 'ops of train' in html and 'ops of eval' in html
PYEOF

# Bad input: one line, non-zero.
one_line() { # name, expected fragment, command...
  local name=$1 want=$2; shift 2
  "$@" >/dev/null 2>e1; local rc=$?
  if [ $rc -ne 0 ] && [ "$(wc -l <e1)" -eq 1 ] && grep -q -- "$want" e1; then ok "$name"; else bad "$name (exit $rc): $(cat e1)"; fi
}
mkdir empty
one_line "report of a directory without metrics" "metrics.jsonl" "$ANET_BIN" report empty
cp -r run broken && rm broken/report.html && echo '{"event": "epoch", "epoch": 1' >>broken/metrics.jsonl
one_line "report of a truncated metrics line" "line $(wc -l <broken/metrics.jsonl)" "$ANET_BIN" report broken
cp -r broken badeval && cp run/metrics.jsonl badeval/ && printf '{"classes": 10, "labels": [1, 2], "pred": [1]}' >badeval/eval.json
one_line "report of a mismatched eval.json" "eval.json" "$ANET_BIN" report badeval
ls broken badeval | grep -q "report.html" && bad "a failed report left a file" || ok "a failed report leaves no file"
one_line "--val-split too large" "val-split" "$ANET_BIN" train "${COMMON[@]}" --val-split 0.99 --out vs
"$ANET_BIN" report --help | grep -q "usage: ane_trainer report" && ok "report --help" || bad "report --help"

# Headless chromium (Debian's), where installed: the page renders with drawn content.
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROME" ]; then
  timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir="$tmp/chrome" \
    --screenshot="$tmp/shot.png" --window-size=800,600 "file://$tmp/run/report.html" >/dev/null 2>&1
  $PY - shot.png <<'PYEOF' && ok "chromium renders the report (non-blank, curves drawn)" || bad "chromium screenshot"
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
assert b[:8] == b'\x89PNG\r\n\x1a\n'
i, idat = 8, b''
while i < len(b):
    n, t = struct.unpack('>I4s', b[i:i + 8]); body = b[i + 8:i + 8 + n]; i += 12 + n
    if t == b'IHDR': w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
    if t == b'IDAT': idat += body
assert depth == 8 and ctype in (2, 6), (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat); stride = w * bpp
rows, prev, k = [], bytearray(stride), 0
for y in range(h):
    f = raw[k]; line = bytearray(raw[k + 1:k + 1 + stride]); k += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0; up = prev[x]; c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + up) & 255
        elif f == 3: line[x] = (line[x] + (a + up) // 2) & 255
        elif f == 4:
            pa, pb, pc = abs(up - c), abs(a - c), abs(a + up - 2 * c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else up if pb <= pc else c)) & 255
    rows.append(bytes(line)); prev = line
colors = {}
for r in rows[::4]:
    for x in range(0, stride, bpp * 4):
        px = r[x:x + 3]; colors[px] = colors.get(px, 0) + 1
total = sum(colors.values())
top = max(colors.values())
blue = sum(v for c, v in colors.items() if c[2] > 150 and c[0] < 80)  # the curves' blue
assert len(colors) > 20 and top < 0.97 * total and blue > 0, (len(colors), top, total, blue)
PYEOF
else
  echo "skip: chromium not installed (apt-get install chromium)"
fi
exit $fail
