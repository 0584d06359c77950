#!/usr/bin/python3
"""PyTorch (float64) oracle for tests/test_step.c.

For each IN OUT pair: reads IN (little-endian): int32 L, int32 dims[L+1], int32 B, int32 opt (-1 none, 0 sgd,
1 adam, 2 adamw), int32 steps, float64 lr, momentum, beta1, beta2, eps, weight_decay,
float64 x[B][dims[0]], int32 labels[B], then per layer float64 W[out][in], b[out].
Writes OUT: float64 loss, logits[B][K], the gradient of every parameter (w0, b0, w1, ...),
then, when opt >= 0, every parameter after `steps` optimizer steps on the same batch
(torch.optim.SGD / Adam / AdamW). The model: Linear layers with relu between them,
mean softmax cross-entropy.
"""
import struct
import sys

import numpy as np
import torch


def job(src, dst):
    buf = open(src, "rb").read()
    off = 0

    def ints(n):
        nonlocal off
        v = struct.unpack_from("<%di" % n, buf, off)
        off += 4 * n
        return v

    def f64(n):
        nonlocal off
        v = np.frombuffer(buf, dtype="<f8", count=n, offset=off).copy()
        off += 8 * n
        return v

    (L,) = ints(1)
    dims = ints(L + 1)
    B, opt, steps = ints(3)
    lr, momentum, beta1, beta2, eps, wd = f64(6)
    x = torch.tensor(f64(B * dims[0]).reshape(B, dims[0]))
    labels = torch.tensor(np.array(ints(B), dtype=np.int64))
    params = []
    for l in range(L):
        w = torch.tensor(f64(dims[l + 1] * dims[l]).reshape(dims[l + 1], dims[l]), requires_grad=True)
        b = torch.tensor(f64(dims[l + 1]), requires_grad=True)
        params += [w, b]

    def forward():
        h = x
        for l in range(L):
            h = torch.nn.functional.linear(h, params[2 * l], params[2 * l + 1])
            if l + 1 < L:
                h = torch.relu(h)
        return h

    logits = forward()
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    out = [np.array([loss.item()]), logits.detach().numpy().ravel()]
    out += [p.grad.numpy().ravel().copy() for p in params]
    if opt >= 0:
        if opt == 0:
            o = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
        elif opt == 1:
            o = torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)
        else:
            o = torch.optim.AdamW(params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)
        for _ in range(steps):
            o.zero_grad()
            torch.nn.functional.cross_entropy(forward(), labels).backward()
            o.step()
        out += [p.detach().numpy().ravel().copy() for p in params]
    with open(dst, "wb") as f:
        for a in out:
            f.write(np.asarray(a, dtype="<f8").tobytes())


def main():
    # IN OUT [IN OUT ...]: one interpreter start (importing torch is the slow part) for all jobs
    args = sys.argv[1:]
    if not args or len(args) % 2:
        sys.exit("usage: mlp_oracle.py IN OUT [IN OUT ...]")
    for i in range(0, len(args), 2):
        job(args[i], args[i + 1])


if __name__ == "__main__":
    main()
