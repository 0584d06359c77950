#!/usr/bin/python3
"""Trains one model spec (default lenet5) with ane_trainer (`train` CLI, vane fp16 unless
--backend says otherwise) and with PyTorch (fp32, same initial weights from
ane_trainer.Model(spec, seed).to_torch(), same optimizer and batch size) for each seed; prints
both test accuracies per seed, each side's mean +- standard deviation over the seeds (and its
range), the difference of the means and the per-seed (paired) differences in percentage points,
and the epoch seconds of each with their ratio. The defaults are lenet5's recommended options
(batch 16, Adam lr 2e-3, cosine; docs/models.md) and seeds 0,1,2. PyTorch runs with torch.set_num_threads(T) and
ane_trainer with OPENBLAS_NUM_THREADS=T (same T). Not a test: a benchmark.

usage: bench/layers_vs_torch.py [--model lenet5] [--dataset DIR|NAME] [--epochs 5] [--seeds 0,1,2]
                                [--batch-size 16] [--lr 2e-3] [--schedule constant|cosine] [--threads 1] [--backend vane]
                                [--bin build/ane_trainer] [--skip-ours] [--skip-torch]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'python'))

from train_vs_torch import find, read_idx  # noqa: E402 (the IDX reader of the MLP benchmark)


def dataset_dir(name):
    for d in (name, os.path.join('/usr/share/datasets', name), os.path.join(HERE, '..', '..', 'shared', 'datasets', name)):
        if os.path.isdir(d):
            return d
    sys.exit('dataset %s not found' % name)


def torch_run(a, seed, d):
    import ane_trainer as at
    torch.set_num_threads(a.threads)
    torch.manual_seed(seed)
    m = at.Model(a.model, seed=seed)
    shape = m.input_shape
    xtr = torch.tensor(read_idx(find(d, 'train-images-idx3-ubyte')), dtype=torch.float32).reshape([-1] + shape) / 255
    ytr = torch.tensor(read_idx(find(d, 'train-labels-idx1-ubyte')), dtype=torch.int64)
    xte = torch.tensor(read_idx(find(d, 't10k-images-idx3-ubyte')), dtype=torch.float32).reshape([-1] + shape) / 255
    yte = torch.tensor(read_idx(find(d, 't10k-labels-idx1-ubyte')), dtype=torch.int64)
    net = m.to_torch()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    lossf = torch.nn.CrossEntropyLoss()
    B = a.batch_size
    nb = len(xtr) // B  # the last partial batch is dropped, as ane_trainer does
    g = torch.Generator().manual_seed(seed)
    secs, acc, step, total = [], 0.0, 0, a.epochs * nb
    for _ in range(a.epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=g)
        t0 = time.perf_counter()
        for i in range(nb):
            idx = perm[i * B:(i + 1) * B]
            if a.schedule == 'cosine':  # ane_trainer's formula (src/train/schedule.c), per step
                for grp in opt.param_groups:
                    grp['lr'] = a.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            opt.zero_grad()
            lossf(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
            step += 1
        secs.append(time.perf_counter() - t0)
    net.eval()
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    return secs, acc


def ours(a, seed, d):
    out = tempfile.mkdtemp(prefix='anet_bench_')
    cmd = [a.bin, 'train', '--dataset', d, '--model', a.model, '--epochs', str(a.epochs), '--batch-size',
           str(a.batch_size), '--optimizer', 'adam', '--lr', str(a.lr), '--schedule', a.schedule, '--seed', str(seed),
           '--backend', a.backend,
           '--out', out, '--quiet']
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads))
    r = subprocess.run(cmd, stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode != 0:
        sys.exit('ane_trainer failed: ' + r.stderr.strip())
    ep = [json.loads(l) for l in open(os.path.join(out, 'metrics.jsonl'))]
    ep = [e for e in ep if e['event'] == 'epoch']
    return [e['epoch_seconds'] for e in ep], ep[-1]['test_acc']


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--bin', default=os.environ.get('ANET_BIN', os.path.join(HERE, '..', 'build', 'ane_trainer')))
    p.add_argument('--model', default='lenet5')
    p.add_argument('--dataset', default='mnist-10k')
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--seeds', default='0,1,2')
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--schedule', default='cosine', choices=['constant', 'cosine'])
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--backend', default='vane')
    p.add_argument('--skip-ours', action='store_true')
    p.add_argument('--skip-torch', action='store_true')
    a = p.parse_args()
    d = dataset_dir(a.dataset)
    seeds = [int(s) for s in a.seeds.split(',')]
    rows = []
    for s in seeds:
        o = ours(a, s, d) if not a.skip_ours else ([float('nan')], float('nan'))
        t = torch_run(a, s, d) if not a.skip_torch else ([float('nan')], float('nan'))
        rows.append((s, o, t))
        print('seed %d: ane_trainer %s test_acc %.4f (epoch s %s) | pytorch fp32 test_acc %.4f (epoch s %s)' %
              (s, a.backend, o[1], ' '.join('%.2f' % v for v in o[0]), t[1], ' '.join('%.2f' % v for v in t[0])),
              flush=True)
    ao = np.array([r[1][1] for r in rows]) * 100
    at_ = np.array([r[2][1] for r in rows]) * 100
    so = float(np.median([v for r in rows for v in r[1][0]]))
    st = float(np.median([v for r in rows for v in r[2][0]]))
    sd = lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0  # noqa: E731
    print('model %s on %s, %d epochs, Adam lr %g (%s), batch %d, seeds %s, threads %d '
          '(OPENBLAS_NUM_THREADS=%d for ane_trainer, torch.set_num_threads(%d))' %
          (a.model, d, a.epochs, a.lr, a.schedule, a.batch_size, a.seeds, a.threads, a.threads, a.threads))
    print('test_acc over %d seeds: ane_trainer (%s) %.2f%% +- %.2f (range %.2f..%.2f), pytorch fp32 %.2f%% +- %.2f '
          '(range %.2f..%.2f)' % (len(rows), a.backend, ao.mean(), sd(ao), ao.min(), ao.max(), at_.mean(), sd(at_),
                                  at_.min(), at_.max()))
    print('difference of the means %+.2f pp; per-seed differences %s (mean %+.2f +- %.2f pp)' %
          (ao.mean() - at_.mean(), ' '.join('%+.2f' % v for v in ao - at_), (ao - at_).mean(), sd(ao - at_)))
    print('median epoch seconds: ane_trainer %.2f, pytorch %.2f, ane_trainer/pytorch = %.2fx' % (so, st, so / st))

if __name__ == '__main__':
    main()
