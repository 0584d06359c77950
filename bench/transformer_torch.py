#!/usr/bin/python3
"""PyTorch fp32 reference for the character transformer on tinyshakespeare (issue 12).

Trains the model of src/train/transformer.c (forward() from tests/oracle/transformer_oracle.py)
the way `ane_trainer train --model transformer:...` does: GPT-2 initialization, random windows
of ctx+1 characters from the first 90% of the text, AdamW (lr 1e-3, betas 0.9/0.999, eps 1e-8,
weight decay 0.01 on every parameter), gradients clipped to global norm 1, batch 32; then prints
the mean validation loss (nats per character) over the first floor(windows/batch)*batch
consecutive non-overlapping validation windows, as the C trainer computes it. Its own seeded
RNG: the same settings, not the same random numbers.

usage: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/transformer_torch.py [TEXT] [--steps N]
         [--layers L --dim D --heads H --ctx S --batch B] [--eval-every N]
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "oracle"))
from transformer_oracle import forward, param_shapes  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("text", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                            "shared", "datasets", "tinyshakespeare", "input.txt"))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ctx", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    raw = np.frombuffer(open(a.text, "rb").read(), dtype=np.uint8)
    chars = np.unique(raw)
    lut = np.zeros(256, dtype=np.int64)
    lut[chars] = np.arange(len(chars))
    ids = torch.tensor(lut[raw])
    n = len(ids)
    ntrain = n - n // 10
    train, val = ids[:ntrain], ids[ntrain:]
    L, D, H, S, V, B = a.layers, a.dim, a.heads, a.ctx, len(chars), a.batch
    params = []
    names = ["tok_emb", "pos_emb"] + [k for _ in range(L) for k in (
        "ln1_w", "ln1_b", "attn_qkv_w", "attn_qkv_b", "attn_proj_w", "attn_proj_b",
        "ln2_w", "ln2_b", "mlp_fc_w", "mlp_fc_b", "mlp_proj_w", "mlp_proj_b")] + ["lnf_w", "lnf_b", "head_w", "head_b"]
    for name, sh in zip(names, param_shapes(L, D, S, V)):
        if name.startswith("ln") and name.endswith("_w"):
            t = torch.ones(sh)
        elif name.endswith("_b"):
            t = torch.zeros(sh)
        else:
            sd = 0.02 / math.sqrt(2 * L) if "proj_w" in name else 0.02
            t = torch.randn(sh) * sd
        params.append(t.requires_grad_(True))
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    nval = (len(val) - 1) // S
    nvb = nval // B

    def val_loss():
        with torch.no_grad():
            tot = 0.0
            for k in range(nvb):
                w = torch.stack([val[(k * B + b) * S:(k * B + b) * S + S + 1] for b in range(B)])
                z = forward(params, w[:, :S], L, D, H)
                tot += F.cross_entropy(z.reshape(-1, V), w[:, 1:].reshape(-1)).item()
            return tot / nvb

    for step in range(1, a.steps + 1):
        st = torch.randint(0, ntrain - S, (B,))
        w = torch.stack([train[s:s + S + 1] for s in st.tolist()])
        z = forward(params, w[:, :S], L, D, H)
        loss = F.cross_entropy(z.reshape(-1, V), w[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step == a.steps or (a.eval_every and step % a.eval_every == 0):
            print("step %d: loss %.4f, val_loss %.4f nats/char" % (step, loss.item(), val_loss()), flush=True)


if __name__ == "__main__":
    main()
