#!/usr/bin/python3
"""Host µs per step (metrics.jsonl `host_us_per_step`, epochs 1-3) of `train --update ane` at
mlp:784-128-10, batch 128, for this build against peers measured in the same run, alternating
one run of each so that the machine's load falls on all of them alike: the copy paths of this
build (ANE_TRAINER_BATCH_IN_SURFACE=0: the batch copied into its surface; ANE_TRAINER_RESIDENT_STATE=0:
the training state copied too) and, with --peer, another build (e.g. main's). Prints each
variant's median and range over runs x 3 epochs and the ratio of its median to this build's,
and the load average before and after. OPENBLAS_NUM_THREADS=1 for every program."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def one_run(binary, backend, data, env_extra, tmp):
    out = tempfile.mkdtemp(dir=tmp)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", **env_extra)
    cmd = [binary, "train", "--dataset", data, "--model", "mlp:784-128-10", "--backend", backend, "--chip", "m1",
           "--update", "ane", "--epochs", "3", "--out", out, "--quiet"]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        lines = [json.loads(l) for l in f]
    return [m["host_us_per_step"] for m in lines if m["event"] == "epoch"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "ane_trainer"), help="this build's CLI")
    ap.add_argument("--peer", help="another build's CLI, measured alongside")
    ap.add_argument("--backend", default="ane-sim")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "datasets", "mnist-10k"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-copy-paths", action="store_true", help="skip this build's copy paths")
    a = ap.parse_args()
    variants = [("this build", a.bin, {})]
    if not a.no_copy_paths:
        if a.backend != "vane":  # vane reads the batch where it was packed: no copy to put back
            variants.append(("ANE_TRAINER_BATCH_IN_SURFACE=0", a.bin, {"ANE_TRAINER_BATCH_IN_SURFACE": "0"}))
        variants.append(("ANE_TRAINER_RESIDENT_STATE=0", a.bin, {"ANE_TRAINER_RESIDENT_STATE": "0"}))
    if a.peer:
        variants.append(("peer " + a.peer, a.peer, {}))
    print(f"load average before: {load()}")
    got = {name: [] for name, _, _ in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.runs):
            for name, binary, env in variants:
                got[name] += one_run(binary, a.backend, a.data, env, tmp)
    print(f"load average after:  {load()}")
    base = statistics.median(got["this build"])
    print(f"{a.backend}, mlp:784-128-10, --update ane, {a.runs} runs x 3 epochs, host_us_per_step:")
    for name, _, _ in variants:
        v = got[name]
        med = statistics.median(v)
        print(f"  {name:34s} median {med:7.1f}  range {min(v):7.1f}-{max(v):7.1f}  ratio {med / base:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
