"""info, check, datasets, and a missing library: compared with the CLI and with a plain IDX
reader written here."""
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ane_trainer as at
from conftest import FIXTURES, MNIST10K, PYDIR


def read_idx(path):
    """A minimal IDX reader (big-endian header, then uint8 data): the oracle for datasets.load."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def test_datasets_load_matches_the_files():
    ds = at.datasets.load(str(MNIST10K))
    assert ds.x_train.shape == (10000, 28, 28) and ds.x_train.dtype == np.uint8 and ds.classes == 10
    assert np.array_equal(ds.x_train, read_idx(MNIST10K / "train-images-idx3-ubyte.gz"))
    assert np.array_equal(ds.y_train, read_idx(MNIST10K / "train-labels-idx1-ubyte.gz"))
    assert np.array_equal(ds.x_test, read_idx(MNIST10K / "t10k-images-idx3-ubyte.gz"))
    assert np.array_equal(ds.y_test, read_idx(MNIST10K / "t10k-labels-idx1-ubyte.gz"))
    (xt, yt), (xs, ys) = ds
    assert xt is ds.x_train and ys is ds.y_test


def test_datasets_missing_raises_file_error(tmp_path):
    with pytest.raises(at.FileError, match="missing"):
        at.datasets.load(str(tmp_path))


def test_info_is_the_cli_info(cli):
    i = at.info()
    ref = json.loads(subprocess.run([cli, "info", "--json"], check=True, capture_output=True, text=True).stdout)
    assert i == ref
    assert "vane" in i["backends"] and i["version"] == at.version


@pytest.mark.parametrize("name, chip", [("mnistCNN.mlmodel", "strict"), ("lstsq-custom.mlmodel", "strict"),
                                        ("add_model.mlmodelc", "m1"), ("Image2Image.mlmodel", "m4")])
def test_check_is_the_cli_check(cli, name, chip):
    path = str(FIXTURES / name)
    r = at.check(path, chip=chip)
    p = subprocess.run([cli, "check", path, "--chip", chip, "--json"], capture_output=True, text=True)
    ref = json.loads(p.stdout)
    assert r.json == ref
    assert r.exit_status == p.returncode
    assert r.status in ("full", "partial", "none") and r.chip == chip
    assert r.verdicts == [layer["verdict"] for layer in ref["layers"]]
    assert len(r.segments) == len(ref["segments"])


@pytest.mark.parametrize("target", ["mlp:784-128-10", "lstsq-custom.mlmodel"])
def test_check_default_chip_is_the_cli_default(cli, target):
    # Without a chip, the library picks what the CLI picks without --chip (m4 for a spec).
    path = target if target.startswith("mlp:") else str(FIXTURES / target)
    r = at.check(path)
    p = subprocess.run([cli, "check", path, "--json"], capture_output=True, text=True)
    assert r.json == json.loads(p.stdout)
    assert r.exit_status == p.returncode


def test_check_verdicts_of_a_custom_layer():
    r = at.check(str(FIXTURES / "lstsq-custom.mlmodel"))
    assert r.status == "none" and r.exit_status == 2 and "cpu" in r.verdicts and r.segments == []


def test_check_errors(tmp_path):
    with pytest.raises(at.FileError):
        at.check(str(tmp_path / "nope.mlmodel"))
    (tmp_path / "bad.mlmodel").write_bytes(b"\xff\xff\xff\xff garbage")
    with pytest.raises(at.FormatError):
        at.check(str(tmp_path / "bad.mlmodel"))
    with pytest.raises(at.ArgumentError, match="unknown chip 'm9'"):
        at.check(str(FIXTURES / "mnistCNN.mlmodel"), chip="m9")


def run_python(code, env_lib):
    env = dict(os.environ, ANE_TRAINER_LIB=env_lib, PYTHONPATH=str(PYDIR))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_missing_library_is_a_clear_import_error(tmp_path):
    p = run_python("import ane_trainer", str(tmp_path / "no" / "libane_trainer.so"))
    assert p.returncode == 1, p  # an exception, not a crash (a signal gives a negative code)
    assert "ImportError" in p.stderr and "ANE_TRAINER_LIB=" in p.stderr and "no such file" in p.stderr
    assert "cmake" in p.stderr  # says how to fix it


def test_unloadable_library_is_a_clear_import_error(tmp_path):
    fake = tmp_path / "libane_trainer.so"
    fake.write_bytes(b"not an ELF file")
    p = run_python("import ane_trainer", str(fake))
    assert p.returncode == 1 and "cannot be loaded" in p.stderr, p.stderr
