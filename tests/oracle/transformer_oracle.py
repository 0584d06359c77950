#!/usr/bin/python3
"""PyTorch (float64) oracle for tests/test_transformer.c; forward() is shared with
bench/transformer_torch.py.

Reads IN (little-endian): int32 L, D, H, S, V, B; int32 tokens[B][S+1]; then every parameter
as float64 in the order of src/train/transformer.h (tok_emb [V,D], pos_emb [S,D], per block
ln1_w, ln1_b, attn_qkv_w [3D,D], attn_qkv_b, attn_proj_w [D,D], attn_proj_b, ln2_w, ln2_b,
mlp_fc_w [4D,D], mlp_fc_b, mlp_proj_w [D,4D], mlp_proj_b; lnf_w, lnf_b, head_w [V,D], head_b).
Writes OUT: float64 loss, logits[B][S][V], then the gradient of every parameter in that order.

With --adamw: IN holds int32 L, D, H, S, V, B, T; int32 tokens[T][B][S+1]; the parameters as
above; float64 lr, weight_decay, clip, beta1, beta2, eps. T steps of loss.backward(),
torch.nn.utils.clip_grad_norm_(params, clip) and torch.optim.AdamW (float64). OUT: float64
the T gradient norms (before clipping), then every parameter after the T steps.
The model: a pre-norm GPT-2 block stack with a causal mask, GELU (tanh form), untied head,
mean cross-entropy over all B*S positions (inputs tokens[:, :S], targets tokens[:, 1:]).
"""
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F


def param_shapes(L, D, S, V):
    shapes = [(V, D), (S, D)]
    for _ in range(L):
        shapes += [(D,), (D,), (3 * D, D), (3 * D,), (D, D), (D,), (D,), (D,), (4 * D, D), (4 * D,), (D, 4 * D), (D,)]
    return shapes + [(D,), (D,), (V, D), (V,)]


def forward(params, x, L, D, H):
    """Logits [B,S,V] of token ids x [B,S]."""
    B, S = x.shape
    hd = D // H
    h = params[0][x] + params[1][None, :S]
    causal = torch.tril(torch.ones(S, S, dtype=torch.bool))
    for l in range(L):
        p = params[2 + 12 * l: 14 + 12 * l]
        a = F.layer_norm(h, (D,), p[0], p[1], 1e-5)
        q, k, v = F.linear(a, p[2], p[3]).split(D, dim=2)
        q, k, v = [t.view(B, S, H, hd).transpose(1, 2) for t in (q, k, v)]
        att = (q @ k.transpose(-1, -2)) / hd ** 0.5
        att = att.masked_fill(~causal, float("-inf")).softmax(-1)
        o = (att @ v).transpose(1, 2).reshape(B, S, D)
        h = h + F.linear(o, p[4], p[5])
        m = F.gelu(F.linear(F.layer_norm(h, (D,), p[6], p[7], 1e-5), p[8], p[9]), approximate="tanh")
        h = h + F.linear(m, p[10], p[11])
    f = params[2 + 12 * L:]
    return F.linear(F.layer_norm(h, (D,), f[0], f[1], 1e-5), f[2], f[3])


def read_params(buf, off, L, D, S, V):
    """The float64 parameters at buf[off:] as leaf tensors, and the offset after them."""
    params = []
    for sh in param_shapes(L, D, S, V):
        n = int(np.prod(sh))
        a = np.frombuffer(buf, dtype="<f8", count=n, offset=off).reshape(sh)
        off += 8 * n
        params.append(torch.tensor(a.copy(), dtype=torch.float64, requires_grad=True))
    return params, off


def main(src, dst):
    buf = open(src, "rb").read()
    L, D, H, S, V, B = struct.unpack_from("<6i", buf, 0)
    off = 24
    tok = np.frombuffer(buf, dtype="<i4", count=B * (S + 1), offset=off).reshape(B, S + 1)
    off += 4 * B * (S + 1)
    params, off = read_params(buf, off, L, D, S, V)
    x = torch.tensor(tok[:, :S].astype(np.int64))
    y = torch.tensor(tok[:, 1:].astype(np.int64))
    logits = forward(params, x, L, D, H)
    loss = F.cross_entropy(logits.reshape(B * S, V), y.reshape(B * S))
    loss.backward()
    with open(dst, "wb") as out:
        out.write(struct.pack("<d", loss.item()))
        out.write(logits.detach().numpy().astype("<f8").tobytes())
        for t in params:
            out.write(t.grad.numpy().astype("<f8").tobytes())


def adamw(src, dst):
    buf = open(src, "rb").read()
    L, D, H, S, V, B, T = struct.unpack_from("<7i", buf, 0)
    off = 28
    tok = np.frombuffer(buf, dtype="<i4", count=T * B * (S + 1), offset=off).reshape(T, B, S + 1)
    off += 4 * T * B * (S + 1)
    params, off = read_params(buf, off, L, D, S, V)
    lr, wd, clip, b1, b2, eps = struct.unpack_from("<6d", buf, off)
    opt = torch.optim.AdamW(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    norms = []
    for t in range(T):
        x = torch.tensor(tok[t, :, :S].astype(np.int64))
        y = torch.tensor(tok[t, :, 1:].astype(np.int64))
        opt.zero_grad()
        F.cross_entropy(forward(params, x, L, D, H).reshape(B * S, V), y.reshape(B * S)).backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, clip)))
        opt.step()
    with open(dst, "wb") as out:
        out.write(np.array(norms, dtype="<f8").tobytes())
        for t in params:
            out.write(t.detach().numpy().astype("<f8").tobytes())


if __name__ == "__main__":
    if sys.argv[1] == "--adamw":
        adamw(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1], sys.argv[2])
