"""Models: MLPs (Linear layers with ReLU between them), their weights as numpy arrays under
PyTorch's names, and conversion from and to ``torch.nn.Sequential``."""
import collections
import ctypes

import numpy as np

from . import _lib
from ._arrays import ptr
from .errors import ArgumentError

_L = _lib.lib


def _check_seed(seed):
    """The C seed is a uint64: refuse what ctypes would silently wrap."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0 or seed >= 2 ** 64:
        raise ArgumentError("seed must be an integer in [0, 2^64), got %r" % (seed,))


class MLP:
    """A multi-layer perceptron: ``MLP([784, 128, 10])`` is Linear(784, 128), ReLU,
    Linear(128, 10) trained with softmax cross-entropy.

    Weights start with PyTorch's default Linear initialisation drawn from ``seed`` by the C
    library: the same weights as ``ane_trainer train --model mlp:784-128-10 --seed S``.
    """

    def __init__(self, sizes, seed=0):
        sizes = list(sizes)
        if len(sizes) < 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sizes):
            raise ArgumentError("MLP sizes must be a list of at least two integers, got %r" % (sizes,))
        _check_seed(seed)
        spec = "mlp:" + "-".join(str(int(s)) for s in sizes)
        h = ctypes.c_void_p()
        _lib.check(_L.anet_model_new(_lib.enc(spec), int(seed), ctypes.byref(h)))
        self._h = h

    @classmethod
    def _adopt(cls, handle):
        m = cls.__new__(cls)
        m._h = handle
        return m

    @classmethod
    def from_spec(cls, spec, seed=0):
        """A model from a spec string such as ``"mlp:784-128-10"``."""
        h = ctypes.c_void_p()
        _check_seed(seed)
        _lib.check(_L.anet_model_new(_lib.enc(spec), int(seed), ctypes.byref(h)))
        return cls._adopt(h)

    @classmethod
    def load(cls, checkpoint):
        """The model stored in a checkpoint (of the CLI or of :meth:`Trainer.save`)."""
        h = ctypes.c_void_p()
        _lib.check(_L.anet_model_load(_lib.enc(checkpoint), ctypes.byref(h)))
        return cls._adopt(h)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h and _L is not None:
            _L.anet_model_free(h)
            self._h = None

    def __getstate__(self):
        """Pickling: the spec and the weights (what a checkpoint holds of a model)."""
        return {"spec": self.spec, "state_dict": self.state_dict()}

    def __setstate__(self, state):
        h = ctypes.c_void_p()
        _lib.check(_L.anet_model_new(_lib.enc(state["spec"]), 0, ctypes.byref(h)))
        self._h = h
        self.load_state_dict(state["state_dict"])

    @property
    def spec(self):
        """The canonical spec string, e.g. ``"mlp:784-128-10"``."""
        return _lib.dec(_L.anet_model_spec_text(self._h))

    @property
    def sizes(self):
        """Layer sizes, inputs first and classes last: ``[784, 128, 10]``."""
        dims = (ctypes.c_int64 * 32)()
        n = ctypes.c_size_t()
        _lib.check(_L.anet_model_dims(self._h, dims, 32, ctypes.byref(n)))
        return [int(dims[i]) for i in range(n.value)]

    def _params(self):
        """(C name, PyTorch name, shape) of every parameter in order."""
        out = []
        for i in range(_L.anet_model_num_params(self._h)):
            buf = ctypes.create_string_buffer(16)
            rows, cols = ctypes.c_int64(), ctypes.c_int64()
            _lib.check(_L.anet_model_param_info(self._h, i, buf, 16, ctypes.byref(rows), ctypes.byref(cols)))
            name = buf.value.decode()
            layer = int(name[1:])
            if name[0] == "w":
                out.append((i, "%d.weight" % (2 * layer), (rows.value, cols.value)))
            else:
                out.append((i, "%d.bias" % (2 * layer), (rows.value,)))
        return out

    def state_dict(self):
        """The weights as an ordered dict of float32 numpy arrays under torch.nn.Sequential's
        names: ``"0.weight"`` [out, in], ``"0.bias"`` [out], ``"2.weight"``, ... (copies)."""
        sd = collections.OrderedDict()
        for i, name, shape in self._params():
            a = np.empty(shape, dtype=np.float32)
            _lib.check(_L.anet_model_get_param(self._h, i, ptr(a, ctypes.c_float), a.size))
            sd[name] = a
        return sd

    def load_state_dict(self, state_dict):
        """Copies weights in from a dict with the names of :meth:`state_dict` (numpy arrays or
        torch tensors, float32). Every key must be present and no other; shapes must match.
        Nothing changes when a check fails (NaN or infinite weights are refused)."""
        params = self._params()
        want = {name for _, name, _ in params}
        got = set(state_dict.keys())
        if got != want:
            missing, extra = sorted(want - got), sorted(got - want)
            raise ArgumentError("state_dict does not fit %s: missing %s, unexpected %s"
                                % (self.spec, missing or "none", extra or "none"))
        arrays = []
        for i, name, shape in params:
            v = state_dict[name]
            if hasattr(v, "detach"):
                v = v.detach().cpu().numpy()
            v = np.asarray(v)
            if v.dtype != np.float32:
                raise ArgumentError("%s has dtype %s: expected float32" % (name, v.dtype))
            if tuple(v.shape) != tuple(shape):
                raise ArgumentError("%s has shape %s, model %s needs %s" % (name, tuple(v.shape), self.spec,
                                                                           tuple(shape)))
            if not np.isfinite(v).all():
                raise ArgumentError("%s holds NaN or infinite values" % name)
            arrays.append((i, np.ascontiguousarray(v)))
        for i, a in arrays:
            _lib.check(_L.anet_model_set_param(self._h, i, ptr(a, ctypes.c_float), a.size))

    def to_torch(self):
        """A new ``torch.nn.Sequential`` of Linear and ReLU layers holding these weights."""
        import torch
        sizes = self.sizes
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        net = torch.nn.Sequential(*layers)
        net.load_state_dict({k: torch.from_numpy(v) for k, v in self.state_dict().items()})
        return net

    def __repr__(self):
        return "MLP(%r)" % (self.sizes,)


Model = MLP


def from_torch(module):
    """An :class:`MLP` with the weights of a ``torch.nn.Sequential`` of ``Linear`` layers with
    ``ReLU`` between them (Linear, ReLU, Linear, ..., Linear). Weights are copied (as float32).
    Any other layer, a Linear without bias, a missing ReLU or mismatched sizes raise
    :class:`ArgumentError` (a ValueError)."""
    import torch
    if not isinstance(module, torch.nn.Sequential):
        raise ArgumentError("from_torch needs a torch.nn.Sequential of Linear and ReLU, got %s"
                            % type(module).__name__)
    layers = list(module.children())
    if not layers:
        raise ArgumentError("from_torch: the Sequential is empty")
    sizes = []
    for pos, layer in enumerate(layers):
        expect_linear = pos % 2 == 0
        if isinstance(layer, torch.nn.Linear):
            if not expect_linear:
                raise ArgumentError("from_torch: layer %d is Linear, but a ReLU must separate Linear layers" % pos)
            if layer.bias is None:
                raise ArgumentError("from_torch: layer %d is Linear without bias; the MLP needs biases" % pos)
            if sizes and sizes[-1] != layer.in_features:
                raise ArgumentError("from_torch: layer %d takes %d inputs but the previous Linear gives %d"
                                    % (pos, layer.in_features, sizes[-1]))
            if not sizes:
                sizes.append(layer.in_features)
            sizes.append(layer.out_features)
        elif isinstance(layer, torch.nn.ReLU):
            if expect_linear:
                raise ArgumentError("from_torch: layer %d is ReLU where a Linear is expected" % pos)
        else:
            raise ArgumentError("from_torch: layer %d is %s; only Linear and ReLU are supported"
                                % (pos, type(layer).__name__))
    if not isinstance(layers[-1], torch.nn.Linear):
        raise ArgumentError("from_torch: the last layer must be Linear (the model outputs logits)")
    m = MLP(sizes)
    sd = collections.OrderedDict()
    for pos, layer in enumerate(layers):
        if isinstance(layer, torch.nn.Linear):
            sd["%d.weight" % pos] = layer.weight.detach().to(torch.float32).cpu().numpy()
            sd["%d.bias" % pos] = layer.bias.detach().to(torch.float32).cpu().numpy()
    m.load_state_dict(sd)
    return m
