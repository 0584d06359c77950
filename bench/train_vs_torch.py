#!/usr/bin/python3
"""ane_trainer (vane, fp16) against PyTorch (fp32) and against the sgemm bound, in one run.

For each configuration MODEL:UPDATE[:SAMPLES] it runs, interleaved --repeat times:
  * ane_trainer train (Adam, --backend vane --numerics fp16 --update UPDATE),
  * the same MLP in PyTorch (torch.optim.Adam, CrossEntropyLoss, same batches per epoch),
  * bench/sgemm_bound: cblas_sgemm alone for exactly the GEMMs of an epoch of that model,
    and again with torch's fp32 Adam over the parameters after each step as one fused loop
    (--adam: the least an exact fp32 optimizer adds to the GEMMs),
each in its own process with the SAME thread settings: OPENBLAS_NUM_THREADS, OMP_NUM_THREADS
and MKL_NUM_THREADS pinned in the environment and torch.set_num_threads (Debian's torch runs its
GEMMs in OpenBLAS, which ignores torch.set_num_threads; the environment is what pins it).
Prints the best and median epoch seconds of each, the ratios, the peak RSS of each process
(/usr/bin/time) and the test accuracies. SAMPLES (default all) trains on the first SAMPLES
training images (written as IDX files to a temporary directory) to keep large models short.
Not a test: a benchmark; numbers depend on the machine and its load.

usage: bench/train_vs_torch.py [--bin build/ane_trainer] [--sgemm build/bench/sgemm_bound]
         [--dataset DIR] [--epochs 2] [--repeat 2] [--threads 1] [--batch-size 128] [--lr 1e-3]
         [CONFIG ...]     (default: 784-128-10:cpu 784-128-10:ane
                                    784-2048-2048-10:cpu:2560 784-2048-2048-10:ane:2560)
"""
import argparse, gzip, json, os, shutil, struct, subprocess, sys, tempfile, time


def read_idx(path):
    import numpy as np
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


def write_subset(src, dst, n):
    """The first n training samples (and the whole test split) as plain IDX files."""
    os.makedirs(dst, exist_ok=True)
    for base, keep in (('train-images-idx3-ubyte', n), ('train-labels-idx1-ubyte', n),
                       ('t10k-images-idx3-ubyte', None), ('t10k-labels-idx1-ubyte', None)):
        a = read_idx(find(src, base))
        if keep:
            a = a[:keep]
        with open(os.path.join(dst, base), 'wb') as f:
            f.write(struct.pack('>I', 0x0800 | a.ndim))
            f.write(struct.pack('>' + 'I' * a.ndim, *a.shape))
            f.write(a.tobytes())


def torch_child(a):
    """Runs in its own process (so /usr/bin/time measures PyTorch alone); prints JSON."""
    import torch
    torch.set_num_threads(a.threads)
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
    print(json.dumps({'secs': secs, 'accs': accs, 'torch': torch.__version__,
                      'torch_threads': torch.get_num_threads()}))


def timed(cmd, env, rss_file):
    """Runs cmd under /usr/bin/time (peak RSS in KiB, of that process alone)."""
    full = ['/usr/bin/time', '-f', '%M', '-o', rss_file] + cmd if os.path.exists('/usr/bin/time') else cmd
    r = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode != 0:
        sys.exit('%s failed: %s' % (cmd[0], r.stderr.strip()[-2000:]))
    rss = float(open(rss_file).read().split()[-1]) if os.path.exists(rss_file) else float('nan')
    return r.stdout, rss


def ours(a, cfg, data, env, tmp):
    out = tempfile.mkdtemp(prefix='run_', dir=tmp)
    cmd = [a.bin, 'train', '--dataset', data, '--model', 'mlp:' + cfg['model'], '--epochs', str(a.epochs),
           '--batch-size', str(a.batch_size), '--optimizer', 'adam', '--lr', str(a.lr), '--seed', str(a.seed),
           '--backend', 'vane', '--numerics', 'fp16', '--update', cfg['update'], '--out', out, '--quiet']
    _, rss = timed(cmd, env, os.path.join(out, 'rss'))
    ep = [json.loads(l) for l in open(os.path.join(out, 'metrics.jsonl'))]
    ep = [d for d in ep if d.get('event') == 'epoch']
    shutil.rmtree(out, ignore_errors=True)
    return [d['epoch_seconds'] for d in ep], [d['test_acc'] for d in ep], rss


def torch_run(a, cfg, data, env, tmp):
    cmd = [sys.executable, os.path.abspath(__file__), '--torch-child', '--dataset', data, '--model', cfg['model'],
           '--epochs', str(a.epochs), '--batch-size', str(a.batch_size), '--lr', str(a.lr), '--seed', str(a.seed),
           '--threads', str(a.threads)]
    out, rss = timed(cmd, env, os.path.join(tmp, 'torch_rss'))
    r = json.loads(out.strip().splitlines()[-1])
    return r['secs'], r['accs'], rss, r


def sgemm(a, cfg, steps, env, tmp, adam=False):
    cmd = [a.sgemm, '--model', cfg['model'], '--batch', str(a.batch_size), '--steps', str(steps),
           '--reps', str(a.epochs)] + (['--adam'] if adam else [])
    out, rss = timed(cmd, env, os.path.join(tmp, 'sgemm_rss'))
    return float(out.strip()), rss


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('configs', nargs='*', help='MODEL:UPDATE[:SAMPLES]')
    p.add_argument('--bin', default=os.environ.get('ANET_BIN', os.path.join(here, '..', 'build', 'ane_trainer')))
    p.add_argument('--sgemm', default=os.path.join(here, '..', 'build', 'bench', 'sgemm_bound'))
    p.add_argument('--dataset', default='/usr/share/datasets/fashion-mnist')
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--model', default='784-128-10')  # --torch-child only
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--repeat', type=int, default=2, help='interleave the three this many times')
    p.add_argument('--threads', type=int, default=1, help='threads for every program (BLAS and torch)')
    p.add_argument('--torch-child', action='store_true', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.torch_child:
        return torch_child(a)
    if not os.path.isdir(a.dataset):
        sys.exit('dataset directory %s not found (Debian: apt install dataset-fashion-mnist)' % a.dataset)
    for f in (a.bin, a.sgemm):
        if not os.access(f, os.X_OK):
            sys.exit('%s not found: build first (cmake --build build)' % f)
    configs = a.configs or ['784-128-10:cpu', '784-128-10:ane', '784-2048-2048-10:cpu:2560',
                            '784-2048-2048-10:ane:2560']
    env = dict(os.environ)
    for k in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        env[k] = str(a.threads)
    tmp = tempfile.mkdtemp(prefix='anet_bench_')
    ntrain = len(read_idx(find(a.dataset, 'train-labels-idx1-ubyte')))
    rows, torch_info = [], None
    try:
        for c in configs:
            parts = c.split(':')
            if len(parts) not in (2, 3) or parts[1] not in ('cpu', 'ane'):
                sys.exit('bad config %r: MODEL:cpu|ane[:SAMPLES]' % c)
            cfg = {'model': parts[0], 'update': parts[1], 'samples': int(parts[2]) if len(parts) == 3 else 0}
            data = a.dataset
            n = ntrain
            if cfg['samples']:
                data = os.path.join(tmp, 'subset_%d' % cfg['samples'])
                if not os.path.isdir(data):
                    write_subset(a.dataset, data, cfg['samples'])
                n = min(cfg['samples'], ntrain)
            steps = n // a.batch_size
            s1, s2, s3, s4, r1, r2, acc1, acc2 = [], [], [], [], 0.0, 0.0, None, None
            for _ in range(a.repeat):
                t, acc1, r = ours(a, cfg, data, env, tmp)
                s1 += t; r1 = max(r1, r)
                t, acc2, r, torch_info = torch_run(a, cfg, data, env, tmp)
                s2 += t; r2 = max(r2, r)
                s3.append(sgemm(a, cfg, steps, env, tmp)[0])
                s4.append(sgemm(a, cfg, steps, env, tmp, adam=True)[0])
            rows.append((cfg, n, steps, s1, s2, s3, s4, r1, r2, acc1, acc2))
            med = lambda v: sorted(v)[len(v) // 2]
            print('mlp:%s --update %s, %d samples (%d steps of %d) x %d epochs x %d runs:' %
                  (cfg['model'], cfg['update'], n, steps, a.batch_size, a.epochs, a.repeat))
            print('  epoch s   best / median: ane_trainer %.3f / %.3f   pytorch %.3f / %.3f   sgemm bound %.3f / %.3f' %
                  (min(s1), med(s1), min(s2), med(s2), min(s3), med(s3)))
            print('  pytorch / ane_trainer = %.2fx (median %.2fx)   ane_trainer / sgemm bound = %.2fx   pytorch / sgemm bound = %.2fx' %
                  (min(s2) / min(s1), med(s2) / med(s1), min(s1) / min(s3), min(s2) / min(s3)))
            print('  sgemm + exact fp32 Adam bound %.3f / %.3f (= %.2fx the sgemm bound)   ane_trainer / it = %.2fx' %
                  (min(s4), med(s4), min(s4) / min(s3), min(s1) / min(s4)))
            print('  peak RSS: ane_trainer %.1f MiB, pytorch %.1f MiB   test_acc: ane_trainer %s, pytorch %s' %
                  (r1 / 1024, r2 / 1024, ' '.join('%.4f' % v for v in acc1), ' '.join('%.4f' % v for v in acc2)))
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print('threads: OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=%d for all three, torch.set_num_threads(%d) '
          '(torch %s reports %d)' % (a.threads, a.threads, torch_info['torch'] if torch_info else '?',
                                    torch_info['torch_threads'] if torch_info else -1))
    by_model = {}
    for cfg, n, steps, s1, s2, s3, s4, r1, r2, acc1, acc2 in rows:
        by_model.setdefault((cfg['model'], n), {})[cfg['update']] = r1
    for (m, n), d in by_model.items():
        if 'cpu' in d and 'ane' in d:
            print('peak RSS mlp:%s: --update ane / --update cpu = %.2fx (%.1f / %.1f MiB)' %
                  (m, d['ane'] / d['cpu'], d['ane'] / 1024, d['cpu'] / 1024))
    print('| model | update | samples | ane_trainer s/epoch | PyTorch s/epoch | sgemm bound s/epoch | sgemm + Adam s/epoch | PyTorch / ours | ours / sgemm | ours / sgemm + Adam | RSS ours MiB | RSS PyTorch MiB |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|')
    for cfg, n, steps, s1, s2, s3, s4, r1, r2, acc1, acc2 in rows:
        print('| mlp:%s | %s | %d | %.3f | %.3f | %.3f | %.3f | %.2fx | %.2fx | %.2fx | %.0f | %.0f |' %
              (cfg['model'], cfg['update'], n, min(s1), min(s2), min(s3), min(s4), min(s2) / min(s1),
               min(s1) / min(s3), min(s1) / min(s4), r1 / 1024, r2 / 1024))


if __name__ == '__main__':
    main()
