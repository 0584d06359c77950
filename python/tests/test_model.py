"""Models: initialisation, PyTorch names and layout, from_torch / to_torch, bad arguments."""
import numpy as np
import pytest
import torch

import ane_trainer as at


def test_mlp_init_is_pytorch_default_distribution():
    m = at.MLP([784, 128, 10], seed=3)
    sd = m.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert sd["0.weight"].shape == (128, 784) and sd["0.bias"].shape == (128,)
    assert sd["2.weight"].shape == (10, 128) and sd["2.bias"].shape == (10,)
    for name, fan_in in (("0.weight", 784), ("0.bias", 784), ("2.weight", 128)):
        a = sd[name].astype(np.float64)
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(a).max() <= bound
        # U(-b, b): standard deviation b / sqrt(3)
        assert abs(a.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert m.sizes == [784, 128, 10] and m.spec == "mlp:784-128-10"


def test_negative_seed_is_refused_everywhere():
    for make in (lambda: at.MLP([4, 2], seed=-1), lambda: at.MLP.from_spec("mlp:4-2", seed=-1)):
        with pytest.raises(at.ArgumentError):
            make()


def test_seed_determines_weights():
    a, b, c = at.MLP([20, 8, 3], seed=1), at.MLP([20, 8, 3], seed=1), at.MLP([20, 8, 3], seed=2)
    assert all(np.array_equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not np.array_equal(a.state_dict()["0.weight"], c.state_dict()["0.weight"])


def test_from_torch_copies_weights_and_to_torch_round_trips():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8),
                              torch.nn.ReLU(inplace=True), torch.nn.Linear(8, 4))
    m = at.from_torch(net)
    assert m.sizes == [30, 16, 8, 4]
    sd = m.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    for k, v in net.state_dict().items():
        assert np.array_equal(sd[k], v.numpy()), k
    back = m.to_torch()
    x = torch.randn(5, 30)
    assert torch.equal(back(x), net(x))


@pytest.mark.parametrize("layers, needle", [
    (lambda: [torch.nn.Linear(4, 3), torch.nn.Softmax(1)], "Softmax is not a supported layer"),
    (lambda: [torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3, affine=False)], "BatchNorm without affine"),
    (lambda: [torch.nn.Conv2d(1, 2, 3)], "end with flatten"),
    (lambda: [torch.nn.Conv2d(1, 2, 3, dilation=2)], "dilat"),
    (lambda: [torch.nn.Linear(4, 3, bias=False)], "without bias"),
    (lambda: [torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(5, 2)], "shape"),
    (lambda: [torch.nn.ReLU(), torch.nn.Linear(4, 2)], "input_shape"),
    (lambda: [torch.nn.GELU()], "approximate"),
    (lambda: [], "no layers"),
])
def test_from_torch_refuses_other_modules(layers, needle):
    with pytest.raises(ValueError, match=needle) as e:
        at.from_torch(torch.nn.Sequential(*layers()))
    assert isinstance(e.value, at.Error)


def test_from_torch_refuses_non_modules_and_nan_weights():
    with pytest.raises(at.ArgumentError, match="nn.Module"):
        at.from_torch([torch.nn.Linear(3, 2)])
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    with torch.no_grad():
        net[0].weight[0, 1] = float("nan")
    with pytest.raises(at.ArgumentError, match="NaN"):
        at.from_torch(net)


def test_load_state_dict_checks_names_shapes_dtypes_and_changes_nothing_on_error():
    m = at.MLP([6, 4, 2], seed=0)
    before = m.state_dict()
    bad = dict(before)
    bad["0.weight"] = np.zeros((4, 7), np.float32)
    with pytest.raises(at.ArgumentError, match=r"shape \(4, 7\)"):
        m.load_state_dict(bad)
    bad = dict(before)
    del bad["2.bias"]
    with pytest.raises(at.ArgumentError, match="missing.*2.bias"):
        m.load_state_dict(bad)
    bad = dict(before)
    bad["2.bias"] = before["2.bias"].astype(np.float64)
    with pytest.raises(at.ArgumentError, match="float64"):
        m.load_state_dict(bad)
    bad = dict(before)
    bad["0.bias"] = before["0.bias"].copy()
    bad["0.bias"][2] = np.inf
    with pytest.raises(at.ArgumentError, match="NaN or infinite"):
        m.load_state_dict(bad)
    after = m.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_bad_specs_raise_with_the_library_message():
    with pytest.raises(at.ArgumentError):
        at.MLP([784])
    with pytest.raises(at.Error) as e:
        at.MLP([784, 0, 10])
    assert e.value.message and e.value.status != 0
    with pytest.raises(at.ArgumentError, match="seed"):
        at.MLP([4, 2], seed=-1)
