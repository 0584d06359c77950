"""fit as Keras and Lightning users expect it (issue 15): progress through sys.stderr, a History
dict, validation_split, callbacks, initial_epoch, Ctrl-C that stops after a step with a state
that continues bit for bit, lr settable, pickling, Python argument names in errors."""
import contextlib
import io
import math
import pickle
import signal
import sys
import threading
import types

import numpy as np
import pytest

import ane_trainer as at


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (640, 32), dtype=np.uint8)
    y = (x[:, :4].sum(axis=1) % 10).astype(np.int64)  # learnable from the first 4 features
    return x, y


def trainer(**kw):
    kw.setdefault("backend", "vane")
    kw.setdefault("batch_size", 32)
    kw.setdefault("seed", 2)
    return at.Trainer(at.MLP([32, 16, 10], seed=2), **kw)


def test_progress_goes_through_sys_stderr_one_line_per_epoch(data):
    x, y = data
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        h = trainer().fit(x, y, epochs=3, validation_split=0.1)  # verbose is on by default
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3, lines
    for i, line in enumerate(lines):
        assert line.startswith("epoch %d/3" % (i + 1)), line
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert " %s " % key in line, line
    assert "%.4g" % h.history["val_accuracy"][-1] in lines[-1]
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        trainer(verbose=False).fit(x, y, epochs=1)
    assert buf.getvalue() == ""


def test_tqdm_bar_when_importable(data, monkeypatch):
    x, y = data
    seen = {"bars": 0, "updates": 0, "lines": []}

    class Bar:
        def __init__(self, total=None, file=None, **kw):
            seen["bars"] += 1
            assert file is sys.stderr and total == 2

        def update(self, n):
            seen["updates"] += n

        def close(self):
            pass

        @staticmethod
        def write(s, file=None):
            seen["lines"].append(s)

    fake = types.ModuleType("tqdm")
    fake.tqdm = Bar
    monkeypatch.setitem(sys.modules, "tqdm", fake)
    trainer().fit(x, y, epochs=2)
    assert seen["bars"] == 1 and seen["updates"] == 2 and len(seen["lines"]) == 2


def test_history_dict_of_lists(data):
    x, y = data
    h = trainer(verbose=False).fit(x, y, epochs=2, validation_split=0.1)
    assert sorted(h.history) == ["accuracy", "loss", "lr", "val_accuracy", "val_loss"]
    assert all(len(v) == 2 for v in h.history.values())
    assert h.epoch == [1, 2]
    with pytest.raises(KeyError, match="val_accuracy"):
        h.history["val_acc"]  # noqa: B018 - Keras's dict: unknown keys raise
    assert h["val_acc"] == h.history["val_accuracy"]  # the earlier names still read
    with pytest.raises(KeyError):
        h["no_such_metric"]
    assert h.history["lr"] == [0.001, 0.001]


def test_validation_split_holds_out_the_last_samples(data):
    """val figures equal an evaluation of the last 10% on the final weights; training on the
    first 90% equals fit on exactly those samples."""
    x, y = data
    split = int(len(x) * 0.9)
    ta = trainer(verbose=False)
    ha = ta.fit(x, y, epochs=2, validation_split=0.1)
    tb = trainer(verbose=False)
    hb = tb.fit(x[:split], y[:split], epochs=2, validation_data=(x[split:], y[split:]))
    assert ha.history == hb.history
    ev = ta.evaluate(x[split:], y[split:])
    assert ev.accuracy == ha.history["val_accuracy"][-1] and ev.loss == ha.history["val_loss"][-1]
    # accuracy: the eval program on the training samples after the epoch, checked by argmax here
    logits = ta.predict(x[:split])
    assert ha.history["accuracy"][-1] == pytest.approx((logits.argmax(1) == y[:split]).mean(), abs=1e-12)


def test_shuffle_false_takes_the_arrays_order(data):
    x, y = data
    ta = trainer(verbose=False)
    ta.fit(x, y, epochs=1, shuffle=False)
    tb = trainer(verbose=False)
    tb.fit(x, y, epochs=1)
    # a permutation of x with shuffle=False gives other weights than the shuffled default:
    assert not np.array_equal(ta.predict(x), tb.predict(x))
    tc = trainer(verbose=False)
    tc.fit(x[::-1].copy(), y[::-1].copy(), epochs=1, shuffle=False)
    assert not np.array_equal(ta.predict(x), tc.predict(x))


def test_early_stopping_restores_best_weights(data):
    x, y = data
    t = trainer(verbose=False, lr=0.05)  # a rate that makes val_loss go up and down
    cb = at.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    best = {}

    class Keep(at.Callback):
        def on_epoch_end(self, epoch, logs=None):
            best[epoch] = (logs["val_loss"], self.trainer.model.state_dict())

    h = t.fit(x, y, epochs=30, validation_split=0.2, callbacks=[Keep(), cb])
    assert cb.stopped_epoch is not None and len(h.epoch) < 30
    vl = h.history["val_loss"]
    i = int(np.argmin(vl))
    assert cb.best_epoch == h.epoch[i] and cb.stopped_epoch - cb.best_epoch == 2
    want = best[cb.best_epoch][1]
    got = t.model.state_dict()
    assert all(np.array_equal(got[k], want[k]) for k in want)
    with pytest.raises(at.ArgumentError, match="val_loss"):
        trainer(verbose=False).fit(x, y, epochs=1, callbacks=[at.EarlyStopping("val_loss")])


def test_model_checkpoint_save_best_only(data, tmp_path):
    x, y = data
    t = trainer(verbose=False, lr=0.05)
    mc = at.ModelCheckpoint(str(tmp_path / "best-{epoch}.safetensors"), monitor="val_accuracy", save_best_only=True)
    h = t.fit(x, y, epochs=6, validation_split=0.2, callbacks=[mc])
    va = h.history["val_accuracy"]
    improved = [e for i, e in enumerate(h.epoch) if va[i] > max(va[:i], default=-1)]
    assert mc.saved == [str(tmp_path / ("best-%d.safetensors" % e)) for e in improved]
    last = at.Trainer.load(mc.saved[-1], verbose=False)
    assert last.evaluate(x[512:], y[512:]).accuracy == max(va)


def test_initial_epoch_counts_like_the_cli(data):
    x, y = data
    t = trainer(verbose=False)
    t.fit(x, y, epochs=2)
    h = t.fit(x, y, epochs=5, initial_epoch=2)  # the total, as --epochs 5 on a resumed run
    assert h.epoch == [3, 4, 5] and t.epochs_done == 5
    with pytest.raises(at.ArgumentError, match="initial_epoch=1 but this trainer has completed 5"):
        t.fit(x, y, epochs=6, initial_epoch=1)
    assert len(t.fit(x, y, epochs=5, initial_epoch=5)) == 0


def _interrupt_main_after(seconds):
    main = threading.main_thread().ident
    timer = threading.Timer(seconds, lambda: signal.pthread_kill(main, signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_stops_after_a_step_and_continues_bit_identically(tmp_path):
    rng = np.random.default_rng(5)
    # 12,000 steps per epoch (about 0.4 s on vane today; 3,000 took under the 0.1 s below):
    # the interrupt lands inside the epoch.
    x = rng.integers(0, 256, (48000, 32), dtype=np.uint8)
    y = rng.integers(0, 10, 48000)
    ref = trainer(verbose=False, batch_size=4)
    ref.fit(x, y, epochs=1)
    t = trainer(batch_size=4)
    buf = io.StringIO()
    timer = _interrupt_main_after(0.1)
    with contextlib.redirect_stderr(buf):
        h = t.fit(x, y, epochs=1)
    timer.join()
    assert h.interrupted and len(h) == 0 and t.epochs_done == 0, buf.getvalue()
    step = t.stats["step"]
    assert 0 <= step < 12000
    assert "interrupted after step %d" % step in buf.getvalue()
    t.save(tmp_path / "cut.safetensors")
    # The in-memory trainer continues the epoch ...
    t.fit(x, y, epochs=1, verbose=False)
    assert t.epochs_done == 1 and t.stats["step"] == 12000
    np.testing.assert_array_equal(t.predict(x[:256]), ref.predict(x[:256]))
    # ... and so does a trainer loaded from the checkpoint written after the interrupt.
    u = at.Trainer.load(tmp_path / "cut.safetensors", verbose=False)
    u.fit(x, y, epochs=1)
    ref.save(tmp_path / "ref.safetensors")
    u.save(tmp_path / "u.safetensors")
    a, b = at.MLP.load(tmp_path / "ref.safetensors").state_dict(), at.MLP.load(tmp_path / "u.safetensors").state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_lr_is_settable_and_used(data):
    x, y = data
    t = trainer(verbose=False, optimizer="sgd", lr=0.01)
    assert t.lr == 0.01
    t.lr = 0.25
    assert t.lr == 0.25
    h = t.fit(x, y, epochs=1)
    assert h.history["lr"] == [0.25]
    with pytest.raises(at.ArgumentError):
        t.lr = -1
    assert t.stats["peak_lr"] == 0.25


def test_schedule_steps(data):
    x, y = data
    t = trainer(verbose=False, schedule="cosine", schedule_steps=100)
    h = t.fit(x, y, epochs=1)  # 20 steps: the last one is t = 19 of T = 100
    want = 0.001 * 0.5 * (1 + math.cos(math.pi * 19 / 100))
    assert h.history["lr"][0] == pytest.approx(want, rel=1e-6)


def test_pickle_through_checkpoint_bytes(data):
    x, y = data
    t = trainer(verbose=False)
    t.fit(x, y, epochs=1)
    u = pickle.loads(pickle.dumps(t))
    assert u.epochs_done == 1 and u.stats["step"] == t.stats["step"]
    np.testing.assert_array_equal(u.predict(x), t.predict(x))
    t.fit(x, y, epochs=1)
    u.fit(x, y, epochs=1)
    np.testing.assert_array_equal(u.predict(x), t.predict(x))
    m = pickle.loads(pickle.dumps(t.model))
    assert m.spec == t.model.spec
    assert all(np.array_equal(m.state_dict()[k], v) for k, v in t.model.state_dict().items())


def test_errors_name_python_arguments():
    with pytest.raises(at.BackendError) as e:
        at.Trainer(at.MLP([4, 3]), backend="ane")
    assert "--" not in str(e.value) and 'backend="vane"' in str(e.value)
    with pytest.raises(at.ArgumentError) as e:
        at.Trainer(at.MLP([4, 3]), batch_size=0)
    assert "--" not in str(e.value) and "batch_size" in str(e.value)


def test_package_build_bundles_the_library(tmp_path):
    """The package build (python/setup.py, which `pip install ./python` runs) puts the library
    into the package: an import from the built tree needs no ANE_TRAINER_LIB and no copy by hand.
    (setup.py build, not pip itself, to keep this fast: pip runs the same build_py step.)"""
    import os
    import shutil
    import subprocess
    from conftest import BUILD, PYDIR
    src = tmp_path / "src"
    shutil.copytree(PYDIR, src, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__", "*.so"))
    env = dict(os.environ, ANE_TRAINER_LIB=str(BUILD / "libane_trainer.so"))
    r = subprocess.run([sys.executable, "setup.py", "-q", "build", "--build-lib", str(tmp_path / "site")], cwd=str(src),
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    env.pop("ANE_TRAINER_LIB")
    r = subprocess.run([sys.executable, "-c", "import ane_trainer as at; print(at.library_path); "
                        "print(at.MLP([4, 3]).spec)"], env=dict(env, PYTHONPATH=str(tmp_path / "site")),
                       cwd=str(tmp_path), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    path, spec = r.stdout.split()
    assert path.startswith(str(tmp_path / "site")) and spec == "mlp:4-3"
    # Without a library to bundle the build stops and says how to make one.
    shutil.rmtree(tmp_path / "site")
    r = subprocess.run([sys.executable, "setup.py", "-q", "build", "--build-lib", str(tmp_path / "site")], cwd=str(src),
                       env=dict(env, ANE_TRAINER_LIB=str(tmp_path / "none.so")), capture_output=True, text=True)
    assert r.returncode != 0 and "none.so: no such file" in r.stderr
