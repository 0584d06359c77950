#!/usr/bin/env bash
# bench/train_vs_torch: ane_trainer (vane, fp16) vs PyTorch (fp32) vs the sgemm bound, same
# model, settings and thread pinning, in one run. Arguments go to train_vs_torch.py (--help).
exec /usr/bin/python3 "$(dirname "$0")/train_vs_torch.py" "$@"
