"""Issue 16 from Python: a trainer closed while a call runs (from another thread or from the
fit callback) never frees memory the call uses; integers that do not fit the C types are
refused instead of wrapping; damaged checkpoints are refused naming the tensor; an epoch in
which every step overflowed stops with an error."""
import json
import struct
import threading
import time

import numpy as np
import pytest

import ane_trainer as at
from ane_trainer import _lib


def small(mnist, n=2000):
    return mnist.x_train[:n], mnist.y_train[:n]


def make_trainer(**kw):
    return at.Trainer(at.MLP([784, 32, 10], seed=1), backend="vane", batch_size=50, **kw)


def test_close_from_another_thread_during_fit(mnist):
    x, y = small(mnist)
    t = make_trainer()
    first_epoch = threading.Event()
    result = {}

    def run():
        try:
            result["history"] = t.fit(x, y, epochs=50, callback=lambda e, r: first_epoch.set())
        except at.ArgumentError as e:
            result["error"] = e

    th = threading.Thread(target=run)
    th.start()
    assert first_epoch.wait(60)
    t.close()  # epoch 2 is running in C now: the trainer must stay alive until it returns
    th.join(120)
    assert not th.is_alive()
    assert "closed during fit" in str(result.get("error")), result
    with pytest.raises(at.ArgumentError, match="closed"):
        t.stats
    assert repr(t) == "Trainer(closed)"


def test_close_inside_the_fit_callback(mnist):
    x, y = small(mnist)
    t = make_trainer()
    seen = []

    def cb(epoch, rec):
        seen.append(epoch)
        t.close()
        assert t.evaluate(x[:100], y[:100]).accuracy >= 0  # still alive inside its own call

    h = t.fit(x, y, epochs=5, callback=cb)
    assert seen == [1] and len(h) == 1
    with pytest.raises(at.ArgumentError, match="closed"):
        t.fit(x, y, epochs=1)
    t.close()  # twice is fine


def test_concurrent_calls_are_serialized(mnist):
    x, y = small(mnist, 1000)
    t = make_trainer()
    errors = []

    def worker():
        try:
            for _ in range(3):
                t.evaluate(x, y)
        except Exception as e:  # noqa: BLE001 - any failure is the test's failure
            errors.append(e)

    ths = [threading.Thread(target=worker) for _ in range(3)]
    for th in ths:
        th.start()
    t.fit(x, y, epochs=2)
    for th in ths:
        th.join(120)
    assert not errors
    t.close()


def test_integers_out_of_c_range_refused(mnist):
    x, y = small(mnist, 200)
    t = make_trainer()
    start = time.monotonic()
    for bad in (10 ** 12, 2 ** 32 + 1, 2 ** 31):
        with pytest.raises(at.ArgumentError, match=r"epochs must be an integer in 1\.\.1000000"):
            t.fit(x, y, epochs=bad)
    assert time.monotonic() - start < 10  # 2**32+1 once wrapped to 1 and trained for ever
    assert t.epochs_done == 0
    # Below the package's own checks: the prototypes refuse what ctypes would wrap.
    with t._use() as h:
        with pytest.raises(at.ArgumentError, match="does not fit the C type c_int"):
            _lib.lib.anet_trainer_set_total_epochs(h, 2 ** 32 + 1)
        with pytest.raises(at.ArgumentError, match="must be an integer"):
            _lib.lib.anet_trainer_set_total_epochs(h, 2.0)
    with pytest.raises(at.ArgumentError, match="does not fit"):
        _lib.lib.anet_model_new(b"mlp:4-2", -1, None)
    t.close()


def test_warmup_limit_is_the_checkpoint_limit(tmp_path, mnist):
    with pytest.raises(at.ArgumentError, match=r"warmup_steps=.*0\.\.2\^53"):
        make_trainer(schedule="warmup", warmup_steps=2 ** 53 + 1)
    x, y = small(mnist, 200)
    t = make_trainer(schedule="warmup", warmup_steps=2 ** 53)
    t.fit(x, y, epochs=1)
    t.save(tmp_path / "w.safetensors")
    t.close()
    t2 = at.Trainer.load(tmp_path / "w.safetensors", backend="vane")  # its own limit: loads
    assert t2.stats["step"] == 4
    t2.close()


def _edit(src, dst, fn):
    b = open(src, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    data = bytearray(b[8 + n:])
    fn(h, data)
    hj = json.dumps(h).encode()
    hj += b" " * (-len(hj) % 8)
    open(dst, "wb").write(struct.pack("<Q", len(hj)) + hj + bytes(data))


def test_load_refuses_damaged_checkpoints(tmp_path, mnist):
    x, y = small(mnist, 200)
    t = make_trainer()
    t.fit(x, y, epochs=1)
    good = tmp_path / "good.safetensors"
    t.save(good)
    t.close()

    def nan_weight(h, data):
        h["__metadata__"] = {k: v for k, v in h["__metadata__"].items() if not k.startswith("checksum.")}
        o = h["w1"]["data_offsets"][0]
        data[o:o + 4] = struct.pack("<f", float("inf"))

    def flip(h, data):
        data[h["opt.m.b0"]["data_offsets"][0]] ^= 0x10

    _edit(good, tmp_path / "nan.safetensors", nan_weight)
    _edit(good, tmp_path / "flip.safetensors", flip)
    with pytest.raises(at.FormatError, match="tensor w1 holds a non-finite value at element 0"):
        at.Trainer.load(tmp_path / "nan.safetensors", backend="vane")
    with pytest.raises(at.FormatError, match="tensor opt.m.b0 does not match its checksum"):
        at.Trainer.load(tmp_path / "flip.safetensors", backend="vane")
    with pytest.raises(at.FormatError, match="tensor w1 holds a non-finite value"):
        at.MLP.load(tmp_path / "nan.safetensors")


def test_epoch_of_only_skipped_steps_stops(mnist):
    x, y = small(mnist, 500)
    m = at.MLP([784, 32, 10], seed=1)
    sd = m.state_dict()
    sd["0.weight"][:] = 1e30  # finite in fp32, inf in the fp16 program: every gradient overflows
    m.load_state_dict(sd)
    t = at.Trainer(m, backend="vane", batch_size=50)
    with pytest.raises(at.Error, match="every one of its 10 steps was skipped"):
        t.fit(x, y, epochs=3)
    t.close()
