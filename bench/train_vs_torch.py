#!/usr/bin/python3
"""Trains the same MLP with the same settings with ane_trainer (vane, fp16) and with PyTorch
(fp32, one thread) in one run; prints the epoch seconds of each, their ratio, both test
accuracies and the peak RSS of the trainer process. Not a test: a benchmark.

usage: bench/train_vs_torch.py [--bin build/ane_trainer] [--dataset DIR] [--epochs N] [--repeat R]
                               [--model 784-128-10] [--batch-size 128] [--lr 1e-3] [--update cpu|ane]
                               [--threads T]
"""
import argparse, gzip, json, os, struct, subprocess, sys, tempfile, time

import numpy as np
import torch


def read_idx(path):
    op = gzip.open if open(path, 'rb').read(2) == b'\x1f\x8b' else open
    with op(path, 'rb') as f:
        b = f.read()
    magic, = struct.unpack('>I', b[:4])
    nd = magic & 0xff
    dims = struct.unpack('>' + 'I' * nd, b[4:4 + 4 * nd])
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def find(d, base):
    for n in (base + '.gz', base):
        p = os.path.join(d, n)
        if os.path.exists(p):
            return p
    sys.exit('missing %s in %s' % (base, d))


def torch_run(a):
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    d = a.dataset
    xtr = torch.tensor(read_idx(find(d, 'train-images-idx3-ubyte')).reshape(-1, 784), dtype=torch.float32) / 255
    ytr = torch.tensor(read_idx(find(d, 'train-labels-idx1-ubyte')), dtype=torch.int64)
    xte = torch.tensor(read_idx(find(d, 't10k-images-idx3-ubyte')).reshape(-1, 784), dtype=torch.float32) / 255
    yte = torch.tensor(read_idx(find(d, 't10k-labels-idx1-ubyte')), dtype=torch.int64)
    dims = [int(v) for v in a.model.split('-')]
    layers = []
    for i in range(len(dims) - 1):
        layers.append(torch.nn.Linear(dims[i], dims[i + 1]))
        if i + 2 < len(dims):
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    lossf = torch.nn.CrossEntropyLoss()
    B = a.batch_size
    nb = len(xtr) // B  # the last partial batch is dropped, as ane_trainer does
    g = torch.Generator().manual_seed(a.seed)
    secs, accs = [], []
    for ep in range(a.epochs):
        perm = torch.randperm(len(xtr), generator=g)
        t0 = time.perf_counter()
        for i in range(nb):
            idx = perm[i * B:(i + 1) * B]
            opt.zero_grad()
            loss = lossf(net(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        secs.append(time.perf_counter() - t0)
        with torch.no_grad():
            accs.append((net(xte).argmax(1) == yte).float().mean().item())
    return secs, accs


def ours(a):
    out = tempfile.mkdtemp(prefix='anet_bench_')
    cmd = [a.bin, 'train', '--dataset', a.dataset, '--model', 'mlp:' + a.model, '--epochs', str(a.epochs),
           '--batch-size', str(a.batch_size), '--optimizer', 'adam', '--lr', str(a.lr), '--seed', str(a.seed),
           '--backend', 'vane', '--numerics', 'fp16', '--update', a.update, '--out', out, '--quiet']
    # Peak RSS of the trainer alone: /usr/bin/time measures the exec'd process (getrusage of
    # children would count the forked Python with torch loaded before the exec).
    rss_file = os.path.join(out, 'rss')
    env = dict(os.environ)
    env.setdefault('OPENBLAS_NUM_THREADS', str(a.threads))
    if os.path.exists('/usr/bin/time'):
        cmd = ['/usr/bin/time', '-f', '%M', '-o', rss_file] + cmd
    r = subprocess.run(cmd, stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode != 0:
        sys.exit('ane_trainer failed: ' + r.stderr.strip())
    rss_kb = float(open(rss_file).read().split()[-1]) if os.path.exists(rss_file) else float('nan')
    ep = [json.loads(l) for l in open(os.path.join(out, 'metrics.jsonl'))]
    ep = [d for d in ep if d['event'] == 'epoch']
    return [d['epoch_seconds'] for d in ep], [d['test_acc'] for d in ep], rss_kb


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser()
    p.add_argument('--bin', default=os.environ.get('ANET_BIN', os.path.join(here, '..', 'build', 'ane_trainer')))
    p.add_argument('--dataset', default='/usr/share/datasets/fashion-mnist')
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--model', default='784-128-10')
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--update', default='cpu')
    p.add_argument('--repeat', type=int, default=2, help='alternate the two this many times')
    p.add_argument('--threads', type=int, default=1, help='OpenBLAS threads of ane_trainer (PyTorch uses 1)')
    a = p.parse_args()
    # The machine may be shared: alternate the two --repeat times and compare each one's best
    # epoch (the least disturbed), and the medians too.
    s1, s2, a1, a2, rss = [], [], None, None, 0.0
    for _ in range(a.repeat):
        t, acc, r = ours(a)
        s1 += t; a1 = acc; rss = max(rss, r)
        t, acc = torch_run(a)
        s2 += t; a2 = acc
    med = lambda v: sorted(v)[len(v) // 2]
    print('model mlp:%s, batch %d, Adam lr %g, %d epochs x %d runs on %s' % (a.model, a.batch_size, a.lr, a.epochs, a.repeat, a.dataset))
    print('%-28s %s' % ('epoch seconds', ''))
    print('%-28s %s' % ('  ane_trainer vane fp16', '  '.join('%6.3f' % v for v in s1)))
    print('%-28s %s' % ('  pytorch fp32 1 thread', '  '.join('%6.3f' % v for v in s2)))
    print('%-28s %s' % ('ane_trainer test_acc', '  '.join('%6.4f' % v for v in a1)))
    print('%-28s %s' % ('pytorch test_acc', '  '.join('%6.4f' % v for v in a2)))
    print('best epoch seconds:   ane_trainer %.3f, pytorch %.3f, ratio pytorch/ane_trainer = %.2fx' % (min(s1), min(s2), min(s2) / min(s1)))
    print('median epoch seconds: ane_trainer %.3f, pytorch %.3f, ratio pytorch/ane_trainer = %.2fx' % (med(s1), med(s2), med(s2) / med(s1)))
    print('ane_trainer peak RSS: %.1f MiB (update=%s, OpenBLAS threads %s)' % (rss / 1024.0, a.update, os.environ.get('OPENBLAS_NUM_THREADS', a.threads)))

if __name__ == '__main__':
    main()
