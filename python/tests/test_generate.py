"""generate(): the same text as `ane_trainer generate` for the same checkpoint and seed, and
its errors."""
import subprocess

import pytest

import ane_trainer as at
from conftest import CLI, SHARED


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("tfm")
    subprocess.run([str(CLI), "train", "--dataset", "tinyshakespeare", "--data", str(SHARED / "datasets"),
                    "--model", "transformer:layers=1,dim=16,heads=2,ctx=16", "--batch-size", "4",
                    "--max-steps", "5", "--val-windows", "8", "--quiet", "--out", str(d)], check=True)
    return d / "checkpoint.safetensors"


def test_generate_matches_the_cli(ckpt):
    text = at.generate(ckpt, prompt="ROMEO:", tokens=40, temperature=0.8, seed=3)
    cli = subprocess.run([str(CLI), "generate", str(ckpt), "--prompt", "ROMEO:", "--tokens", "40",
                          "--temperature", "0.8", "--seed", "3"], check=True, capture_output=True).stdout
    assert text.startswith("ROMEO:") and len(text) == 46
    assert text + "\n" == cli.decode("latin-1")
    assert at.generate(ckpt, prompt="ROMEO:", tokens=40, seed=3) == text
    assert at.generate(ckpt, prompt="ROMEO:", tokens=40, seed=4) != text


def test_generate_errors(ckpt, tmp_path):
    with pytest.raises(at.Error, match="vocabulary"):
        at.generate(ckpt, prompt="caf\u00e9")
    with pytest.raises(at.ArgumentError):
        at.generate(ckpt, tokens=-1)
    with pytest.raises(at.ArgumentError):
        at.generate(ckpt, temperature="hot")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(at.Error):
        at.generate(bad)


def test_model_generate(ckpt, tmp_path):
    import pickle
    m = at.Model.load(ckpt)
    assert isinstance(m, at.TransformerModel) and isinstance(m, at.Model)
    assert m.spec == "transformer:layers=1,dim=16,heads=2,ctx=16"
    text = m.generate(prompt="ROMEO:", tokens=40, temperature=0.8, seed=3)
    assert text == at.generate(ckpt, prompt="ROMEO:", tokens=40, temperature=0.8, seed=3)
    assert pickle.loads(pickle.dumps(m)).generate(prompt="ROMEO:", tokens=40, seed=3) == text
    with pytest.raises(at.ArgumentError, match="generate"):
        m.state_dict()
    with pytest.raises(at.ArgumentError):
        m.sizes
    with pytest.raises(at.Error):
        at.Model.load(tmp_path / "missing.safetensors")
