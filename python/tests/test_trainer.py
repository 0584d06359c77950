"""Training from Python against the CLI (the same library through another door) and against
PyTorch (an independent oracle for the forward pass and the loss)."""
import json
import subprocess

import numpy as np
import pytest
import torch

import ane_trainer as at
from conftest import MNIST10K

EPOCHS = 10  # the acceptance run: vane epochs of mlp:784-128-10 on mnist-10k take ~0.1 s


def cli_train(cli, out, *args):
    subprocess.run([cli, "train", "--dataset", str(MNIST10K), "--model", "mlp:784-128-10", "--backend", "vane",
                    "--seed", "0", "--out", str(out), "--quiet", *args], check=True)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def torch_accuracy(net, x, y):
    with torch.no_grad():
        logits = net(torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255))
    return float((logits.argmax(1).numpy() == y).mean())


@pytest.fixture(scope="module")
def acceptance(mnist, cli, tmp_path_factory):
    """The issue's acceptance run: a torch Sequential imported with from_torch and trained
    10 epochs with Trainer.fit, and the CLI with the same seed and settings."""
    tmp = tmp_path_factory.mktemp("acceptance")
    cli_lines = cli_train(cli, tmp / "cli", "--epochs", str(EPOCHS))
    net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    # The CLI's initial weights for --seed 0: PyTorch's init distribution drawn by the library.
    net.load_state_dict({k: torch.from_numpy(v) for k, v in at.MLP([784, 128, 10], seed=0).state_dict().items()})
    model = at.from_torch(net)
    trainer = at.Trainer(model, optimizer="adam", lr=1e-3, backend="vane", update="cpu", seed=0, batch_size=128)
    seen = []
    history = trainer.fit(mnist.x_train, mnist.y_train, epochs=EPOCHS, validation=(mnist.x_test, mnist.y_test),
                          callback=lambda epoch, rec: seen.append(epoch))
    trainer.save(str(tmp / "py.safetensors"))
    return cli_lines, history, trainer, model, seen, tmp


def test_same_metrics_as_the_cli(acceptance):
    cli_lines, history, _, _, seen, _ = acceptance
    assert seen == list(range(1, EPOCHS + 1))
    assert len(cli_lines) == EPOCHS == len(history)
    for c, p in zip(cli_lines, history):
        assert p["epoch"] == c["epoch"] and p["step"] == c["step"]
        assert p["train_loss"] == c["train_loss"], (p, c)   # identical, not close
        assert p["val_acc"] == c["test_acc"], (p, c)
        assert p["loss_scale"] == c["loss_scale"] and p["skipped_steps"] == c["skipped_steps"]
    assert cli_lines[-1]["test_acc"] >= 0.93, cli_lines[-1]
    print("acceptance: %d epochs, CLI test_acc %.4f, Python val_acc %.4f"
          % (EPOCHS, cli_lines[-1]["test_acc"], history["val_acc"][-1]))


def test_to_torch_evaluates_the_same_in_pytorch(acceptance, mnist):
    _, history, trainer, model, _, _ = acceptance
    acc_torch = torch_accuracy(model.to_torch(), mnist.x_test, mnist.y_test)
    print("PyTorch evaluation of to_torch(): %.4f (vane %.4f)" % (acc_torch, history["val_acc"][-1]))
    assert abs(acc_torch - history["val_acc"][-1]) <= 0.001
    # trainer.model is the object passed in, updated with the trained weights
    assert trainer.model is model


def test_python_checkpoint_is_a_cli_checkpoint(acceptance, cli):
    _, history, _, _, _, tmp = acceptance
    out = subprocess.run([cli, "eval", str(tmp / "py.safetensors"), "--dataset", str(MNIST10K), "--backend",
                          "vane", "--json"], check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["test_acc"] == history["val_acc"][-1]


def test_predict_matches_pytorch_forward_and_evaluate_matches_pytorch_loss(acceptance, mnist):
    _, _, trainer, model, _, _ = acceptance
    x, y = mnist.x_test[:500], mnist.y_test[:500].astype(np.int64)
    logits = trainer.predict(x)
    assert logits.shape == (500, 10) and logits.dtype == np.float32
    with torch.no_grad():
        ref = model.to_torch()(torch.from_numpy(x.reshape(500, -1).astype(np.float32) / 255)).numpy()
    # fp16 storage and rounding on vane: a few fp16 ulps of the logits' magnitude
    assert np.abs(logits - ref).max() < 0.05 * max(1.0, np.abs(ref).max())
    ev = trainer.evaluate(x, y)
    assert ev.accuracy == float((logits.argmax(1) == y).mean())
    ce = torch.nn.functional.cross_entropy(torch.from_numpy(logits).double(), torch.from_numpy(y)).item()
    assert abs(ev.loss - ce) < 1e-9


def test_cli_checkpoint_loads_and_resumes_like_the_cli(mnist, cli, tmp_path):
    cli_train(cli, tmp_path / "a", "--epochs", "1")
    ck = tmp_path / "a" / "checkpoint.safetensors"
    t = at.Trainer.load(str(ck), backend="vane")
    assert t.epochs_done == 1 and t.model.spec == "mlp:784-128-10"
    ref = cli_train(cli, tmp_path / "b", "--epochs", "2")
    assert t.evaluate(mnist.x_test, mnist.y_test).accuracy == ref[0]["test_acc"]
    h = t.fit(mnist.x_train, mnist.y_train, epochs=1, validation=(mnist.x_test, mnist.y_test))
    assert h["train_loss"] == [ref[1]["train_loss"]] and h["val_acc"] == [ref[1]["test_acc"]]


def test_update_ane_matches_the_cli(mnist, cli, tmp_path):
    ref = cli_train(cli, tmp_path / "c", "--epochs", "1", "--update", "ane")
    t = at.Trainer(at.MLP([784, 128, 10], seed=0), backend="vane", update="ane")
    h = t.fit(mnist.x_train, mnist.y_train, epochs=1, validation=(mnist.x_test, mnist.y_test))
    assert h["train_loss"] == [ref[0]["train_loss"]] and h["val_acc"] == [ref[0]["test_acc"]]


def test_float_features_equal_scaled_bytes(mnist):
    """uint8 pixels are used as fp16(x * float32(1/255)); the same float32 features give the
    same batches, so the same losses, bit for bit."""
    n = 2000
    xb, y = mnist.x_train[:n], mnist.y_train[:n]
    xf = xb.reshape(n, -1).astype(np.float32) * np.float32(1.0 / 255.0)
    ha = at.Trainer(at.MLP([784, 32, 10], seed=5), backend="vane", seed=5).fit(xb, y, epochs=2)
    hb = at.Trainer(at.MLP([784, 32, 10], seed=5), backend="vane", seed=5).fit(xf, y, epochs=2)
    assert ha["train_loss"] == hb["train_loss"]


def test_callback_can_stop_and_sees_updated_model(mnist):
    m = at.MLP([784, 16, 10], seed=1)
    w0 = m.state_dict()["0.weight"].copy()
    t = at.Trainer(m, backend="vane", batch_size=250)
    snapshots = []

    def cb(epoch, rec):
        snapshots.append(m.state_dict()["0.weight"].copy())
        return False

    h = t.fit(mnist.x_train[:1000], mnist.y_train[:1000], epochs=5, callback=cb)
    assert len(h) == 1 and t.epochs_done == 1 and len(snapshots) == 1
    assert not np.array_equal(snapshots[0], w0)


def test_save_load_roundtrip(mnist, tmp_path):
    t = at.Trainer(at.MLP([784, 16, 10], seed=2), backend="vane", batch_size=200, optimizer="sgd", lr=0.05)
    t.fit(mnist.x_train[:2000], mnist.y_train[:2000], epochs=1)
    t.save(str(tmp_path / "s.safetensors"))
    u = at.Trainer.load(str(tmp_path / "s.safetensors"), backend="vane")
    assert u.stats["optimizer"] == "sgd" and u.batch_size == 200
    assert u.evaluate(mnist.x_test[:999], mnist.y_test[:999]) == t.evaluate(mnist.x_test[:999], mnist.y_test[:999])
    m = at.MLP.load(str(tmp_path / "s.safetensors"))
    assert all(np.array_equal(v, t.model.state_dict()[k]) for k, v in m.state_dict().items())


# ---- bad arguments: an exception with a clear message, never a crash ----

@pytest.fixture(scope="module")
def small(mnist):
    t = at.Trainer(at.MLP([784, 16, 10], seed=0), backend="vane", batch_size=100)
    return t, mnist.x_train[:300], mnist.y_train[:300]


def test_wrong_shapes(small):
    t, x, y = small
    with pytest.raises(at.ArgumentError, match="100 features per sample but model mlp:784-16-10 takes 784"):
        t.fit(x.reshape(300, -1)[:, :100], y)
    with pytest.raises(at.ArgumentError, match="expected \\[n, features\\]"):
        t.fit(x.reshape(-1), y)
    with pytest.raises(at.ArgumentError, match="299 labels but x has 300 samples"):
        t.fit(x, y[:299])
    with pytest.raises(at.ArgumentError, match="expected \\[n\\] class indices"):
        t.evaluate(x, y.reshape(-1, 1))
    with pytest.raises(at.ArgumentError, match="fewer than one batch"):
        t.fit(x[:50], y[:50])
    with pytest.raises(at.ArgumentError, match="compiled for batch 100"):
        t.fit(x, y, batch_size=64)
    with pytest.raises(at.ArgumentError, match="no samples"):
        t.predict(x[:0])
    with pytest.raises(at.ArgumentError, match="x_val has 783 features"):
        t.fit(x, y, validation=(x.reshape(300, -1)[:, 1:], y))
    with pytest.raises(at.ArgumentError, match="y_val holds labels outside 0..9"):
        t.fit(x, y, validation=(x, y.astype(np.int64) + 5))
    assert t.epochs_done == 0


def test_wrong_dtypes(small):
    t, x, y = small
    with pytest.raises(at.ArgumentError, match="dtype float64"):
        t.fit(x.astype(np.float64), y)
    with pytest.raises(at.ArgumentError, match="dtype int32"):
        t.predict(x.astype(np.int32))
    with pytest.raises(at.ArgumentError, match="integer class indices"):
        t.fit(x, y.astype(np.float32))
    with pytest.raises(at.ArgumentError, match="torch tensor"):
        t.predict(torch.zeros(3, 784))


def test_nan_inputs_and_bad_labels(small):
    t, x, y = small
    xf = x.reshape(300, -1).astype(np.float32) / 255
    xf[17, 5] = np.nan
    with pytest.raises(at.ArgumentError, match=r"x\[17, 5\] is NaN"):
        t.fit(xf, y)
    xf[17, 5] = 1e6
    with pytest.raises(at.ArgumentError, match="fp16's range"):
        t.evaluate(xf, y)
    bad = y.astype(np.int64)
    bad[3] = 10
    with pytest.raises(at.ArgumentError, match=r"y\[3\] = 10 is not a class"):
        t.fit(x, bad)
    bad[3] = -1
    with pytest.raises(at.ArgumentError, match=r"y\[3\] = -1"):
        t.evaluate(x, bad)
    assert t.epochs_done == 0  # nothing was trained by the failed calls


def test_bad_options():
    m = at.MLP([784, 16, 10])
    with pytest.raises(at.ArgumentError, match="optimizer=rmsprop: expected adam, adamw or sgd"):
        at.Trainer(m, optimizer="rmsprop")
    with pytest.raises(at.ArgumentError, match="backend=gpu"):
        at.Trainer(m, backend="gpu")
    with pytest.raises(at.ArgumentError, match="lr=-1: expected a number >= 0"):
        at.Trainer(m, lr=-1)
    with pytest.raises(at.ArgumentError, match="not a valid value"):
        at.Trainer(m, backend="vane lr=3")
    with pytest.raises(at.ArgumentError, match="MLP"):
        at.Trainer(torch.nn.Linear(3, 2))


def test_checkpoint_of_another_model(mnist, tmp_path, small):
    other = at.Trainer(at.MLP([784, 32, 10], seed=0), backend="vane", batch_size=100)
    other.save(str(tmp_path / "other.safetensors"))
    with pytest.raises(at.ArgumentError, match="unknown option 'colour'"):
        at.Trainer.load(str(tmp_path / "other.safetensors"), colour="blue")
    t, x, y = small
    before = t.model.state_dict()
    with pytest.raises(at.ArgumentError, match="mlp:784-32-10.*mlp:784-16-10|mlp:784-16-10.*mlp:784-32-10"):
        t.restore(str(tmp_path / "other.safetensors"))
    after = t.model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(at.FormatError):
        t.restore(str(tmp_path / "junk.safetensors"))
    with pytest.raises(at.FileError):
        at.Trainer.load(str(tmp_path / "missing.safetensors"))


def test_auto_falls_back_to_vane_losslessly(monkeypatch, capfd):
    """Under backend="auto" an injected device fault in the middle of training switches to vane
    with a warning and the same result as training on vane throughout (ane-sim computes with
    vane's numerics, so a lossless switch is exact)."""
    rng = np.random.default_rng(0)
    x = rng.random((512, 32), dtype=np.float32)
    y = rng.integers(0, 10, 512)

    def run(backend):
        t = at.Trainer(at.MLP([32, 16, 10], seed=1), backend=backend, batch_size=64, seed=1)
        t.fit(x, y, epochs=2)
        return t.backend, t.backend_reason, t.predict(x)

    ref = run("vane")
    monkeypatch.setenv("ANE_TRAINER_AUTO_CANDIDATE", "ane-sim")
    # eval 1: the self-check; 2-9: epoch 1's steps; 10-17: its training accuracy; 20: step 11
    monkeypatch.setenv("ANE_TRAINER_SIM_FAULTS", "eval@20")
    name, reason, pred = run("auto")
    assert name == "vane" and "ane-sim failed at step 11" in reason, reason
    assert "warning: ane-sim failed at step 11" in capfd.readouterr().err
    np.testing.assert_array_equal(pred, ref[2])
