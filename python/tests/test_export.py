"""Core ML export from Python: model.export_coreml writes a package that `check` passes,
`predict` on it agrees with the eval program (Trainer.predict) on 100 test images, and
coremltools (where installed) loads it and re-type-checks its program."""
import json
import subprocess

import numpy as np
import pytest

import ane_trainer as at


@pytest.fixture(scope="module")
def trained(mnist, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    trainer = at.Trainer(at.MLP([784, 32, 10], seed=3), backend="vane", seed=3)
    trainer.fit(mnist.x_train[:6000], mnist.y_train[:6000], epochs=1)
    pkg = tmp / "Digits.mlpackage"
    assert trainer.model.export_coreml(pkg, dataset="mnist", author="tests", version="1.0", license="MIT",
                                       description="digits") == pkg
    return trainer, pkg, tmp


def test_package_layout_and_check(trained, cli):
    _, pkg, _ = trained
    manifest = json.loads((pkg / "Manifest.json").read_text())
    root = manifest["itemInfoEntries"][manifest["rootModelIdentifier"]]
    assert root["path"] == "com.apple.CoreML/model.mlmodel" and manifest["fileFormatVersion"] == "1.0.0"
    assert (pkg / "Data" / "com.apple.CoreML" / "weights" / "weight.bin").stat().st_size > 32 * 785 * 2
    report = json.loads(subprocess.run([cli, "check", str(pkg), "--json"], capture_output=True, text=True).stdout)
    assert report["summary"]["exit_status"] == 0, report["summary"]


def test_predict_on_the_package_agrees_with_eval(trained, cli, mnist, tmp_path):
    trainer, pkg, _ = trained
    idx = tmp_path / "t100-idx3-ubyte"
    x = mnist.x_test[:100]
    idx.write_bytes(np.array([0, 0, 8, 3], np.uint8).tobytes() + np.array([100, 28, 28], ">u4").tobytes()
                    + x.astype(np.uint8).tobytes())
    out = subprocess.run([cli, "predict", str(pkg), str(idx), "--json", "--top", "1"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    got = [json.loads(line)["top"][0]["class"] for line in out]
    want = trainer.predict(x).argmax(1)          # the eval program's logits
    assert got == want.tolist()


def test_predict_single_sample(trained, mnist):
    trainer, _, _ = trained
    batch = trainer.predict(mnist.x_test[:3])
    one = trainer.predict(mnist.x_test[1])       # one 28x28 image
    flat = trainer.predict(mnist.x_test[1].reshape(-1))
    assert one.shape == (10,) and flat.shape == (10,)
    assert np.array_equal(one, batch[1]) and np.array_equal(flat, batch[1])
    assert trainer.predict(mnist.x_test[:1]).shape == (1, 10)


def test_bad_options(trained, tmp_path):
    trainer, _, _ = trained
    with pytest.raises(at.ArgumentError):
        trainer.model.export_coreml(tmp_path / "a.mlpackage", minimum_deployment_target="iOS15")
    with pytest.raises(at.ArgumentError):
        trainer.model.export_coreml(tmp_path / "a.mlpackage", precision="int8")
    with pytest.raises(at.ArgumentError):
        trainer.model.export_coreml(tmp_path / "a.mlpackage", input="rgb")
    assert trainer.model.export_coreml(tmp_path / "v.mlpackage", input="image").is_dir()
    (tmp_path / "plain").mkdir()
    with pytest.raises(at.Error):
        trainer.model.export_coreml(tmp_path / "plain")


def test_coremltools_loads_and_retypes(trained):
    """Apple's own reader: MLModel on the package, then its MIL frontend re-builds (and so
    re-type-checks) every op of the program from the protobuf."""
    ct = pytest.importorskip(
        "coremltools", reason="coremltools is not installed here (pip-only, not a Debian package): the package "
                              "is validated by the C reader, vane and the .proto decode of tests/cli/export.sh instead")
    _, pkg, _ = trained
    model = ct.models.MLModel(str(pkg), skip_model_load=True)
    spec = model.get_spec()
    assert spec.WhichOneof("Type") == "mlProgram"
    assert spec.description.predictedFeatureName == "classLabel"
    from coremltools.converters.mil.frontend.milproto.load import load as milproto_load
    prog = milproto_load(spec, specification_version=spec.specificationVersion, file_weights_dir=model.weights_dir)
    ops = [op.op_type for op in prog.functions["main"].operations]
    assert "classify" in ops and "matmul" in ops
