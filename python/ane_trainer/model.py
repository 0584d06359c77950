"""Models: a graph of layers (``Model("lenet5")``, ``MLP([784, 128, 10])``, any spec of
docs/models.md), their weights as numpy arrays under PyTorch's names, and conversion from and
to PyTorch modules (``from_torch`` traces with torch.fx; ``to_torch`` rebuilds a module)."""
import collections
import ctypes
import json
import os
import struct

import numpy as np

from . import _lib
from ._arrays import ptr
from .errors import ArgumentError

_L = _lib.lib


def _check_seed(seed):
    """The C seed is a uint64: refuse what ctypes would silently wrap."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0 or seed >= 2 ** 64:
        raise ArgumentError("seed must be an integer in [0, 2^64), got %r" % (seed,))


def _new_handle(spec, seed):
    _check_seed(seed)
    h = ctypes.c_void_p()
    _lib.check(_L.anet_model_new(_lib.enc(spec), int(seed), ctypes.byref(h)))
    return h


class Model:
    """A model from a spec string: ``Model("lenet5")``, ``Model("mlp:784-128-10")``,
    ``Model("in:1x28x28,conv:16x3x3:pad1,relu,maxpool:2,flatten,linear:10")`` (grammar in
    docs/models.md; a trailing ``loss:mse`` / ``loss:bce`` picks the loss, default softmax
    cross-entropy).

    Weights start with PyTorch's default initialisation drawn from ``seed`` by the C library:
    the same weights as ``ane_trainer train --model SPEC --seed S``.
    """

    def __init__(self, spec, seed=0):
        if not isinstance(spec, str):
            raise ArgumentError("Model needs a spec string, got %r" % (spec,))
        self._h = _new_handle(spec, seed)

    @classmethod
    def _adopt(cls, handle):
        m = Model.__new__(Model)
        m._h = handle
        return m

    @classmethod
    def from_spec(cls, spec, seed=0):
        """A model from a spec string such as ``"mlp:784-128-10"`` or ``"lenet5"``."""
        return cls._adopt(_new_handle(spec, seed))

    @classmethod
    def load(cls, checkpoint):
        """The model stored in a checkpoint (of the CLI or of :meth:`Trainer.save`); a character
        transformer's checkpoint (``train --model transformer:...``) gives a
        :class:`TransformerModel`."""
        if _transformer_spec(checkpoint):
            return TransformerModel(checkpoint)
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
        """mlp: form: layer sizes, inputs first and outputs last (``[784, 128, 10]``); other
        models: ``[inputs, outputs]``."""
        dims = (ctypes.c_int64 * 32)()
        n = ctypes.c_size_t()
        _lib.check(_L.anet_model_dims(self._h, dims, 32, ctypes.byref(n)))
        return [int(dims[i]) for i in range(n.value)]

    @property
    def layers(self):
        """The layer graph as the library sees it: {"input", "loss", "layers": [...]}."""
        return _lib.take_json(_L.anet_model_layers_json, self._h)

    @property
    def loss(self):
        """"xent" (softmax cross-entropy), "mse" or "bce" (binary cross-entropy with logits)."""
        return self.layers["loss"]

    @property
    def input_shape(self):
        """[C, H, W] or [F]."""
        return list(self.layers["input"])

    def _params(self):
        """(C index, PyTorch name, PyTorch shape) of every parameter in order."""
        desc = self.layers["layers"]
        owner = {}
        for pos, l in enumerate(desc):
            if l["param0"] >= 0:
                for j in range(4 if l["kind"] == "batchnorm" else 2):
                    owner[l["param0"] + j] = (pos, l)
        out = []
        for i in range(_L.anet_model_num_params(self._h)):
            buf = ctypes.create_string_buffer(16)
            rows, cols = ctypes.c_int64(), ctypes.c_int64()
            _lib.check(_L.anet_model_param_info(self._h, i, buf, 16, ctypes.byref(rows), ctypes.byref(cols)))
            pos, l = owner[i]
            j = i - l["param0"]
            is_w = j == 0
            if l["kind"] == "conv" and is_w:
                shape = (l["out"], l["in"][0] // l["groups"], l["kh"], l["kw"])
            elif l["kind"] == "layernorm":
                shape = tuple(l["in"])
            elif l["kind"] == "batchnorm":
                shape = (rows.value,)
            elif is_w:
                shape = (rows.value, cols.value)
            else:
                shape = (rows.value,)
            out.append((i, "%d.%s" % (pos, ("weight", "bias", "running_mean", "running_var")[j]), shape))
        return out

    def state_dict(self):
        """The weights as an ordered dict of float32 numpy arrays under the names and shapes of
        :meth:`to_torch`'s module: ``"0.weight"`` [out, in] or [out, in/groups, kh, kw],
        ``"0.bias"`` [out], ... (the number is the layer's position in the spec; copies)."""
        sd = collections.OrderedDict()
        for i, name, shape in self._params():
            a = np.empty(shape, dtype=np.float32)
            _lib.check(_L.anet_model_get_param(self._h, i, ptr(a, ctypes.c_float), a.size))
            sd[name] = a
        return sd

    def load_state_dict(self, state_dict):
        """Copies weights in from a dict with the names and shapes of :meth:`state_dict` (numpy
        arrays or torch tensors, float32). Every key must be present and no other; shapes must match.
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
        """A new torch module with these weights: an ``nn.Sequential`` of the layers (with a
        residual ``add`` the module's forward also adds the earlier activations); its
        ``state_dict`` has the names of :meth:`state_dict`."""
        import torch
        from . import _torch
        net = _torch.build(self.layers)
        sd = {k: torch.from_numpy(v) for k, v in self.state_dict().items()}
        for k in net.state_dict():
            if k.endswith("num_batches_tracked"):  # PyTorch's counter; unused with momentum 0.1
                sd[k] = torch.tensor(0)
        net.load_state_dict(sd)
        return net

    def export_coreml(self, path, **options):
        """Writes this model as a Core ML ``.mlpackage``; see :func:`ane_trainer.export.export_coreml`."""
        from .export import export_coreml
        return export_coreml(self, path, **options)

    def __repr__(self):
        return "Model(%r)" % (self.spec,)


def _transformer_spec(checkpoint):
    """The "model" metadata of a safetensors file when it is a transformer spec, else None (the
    C library judges everything else, errors included)."""
    try:
        with open(os.fspath(checkpoint), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            if not 2 <= n <= 1 << 26:
                return None
            meta = json.loads(f.read(n)).get("__metadata__", {})
    except (OSError, TypeError, ValueError, struct.error, AttributeError):
        return None
    spec = meta.get("model") if isinstance(meta, dict) else None
    return spec if isinstance(spec, str) and spec.startswith("transformer:") else None


class TransformerModel(Model):
    """A character transformer (``transformer:layers=L,dim=D,heads=H,ctx=S``) from a checkpoint
    of ``ane_trainer train`` (``Model.load(path)`` returns one): its spec, vocabulary and
    :meth:`generate`. Transformers train through the CLI; the layer-graph methods
    (``state_dict``, ``to_torch``, ``export_coreml``, ...) are not available for them."""

    def __init__(self, checkpoint):
        self._h = None
        spec = _transformer_spec(checkpoint)
        if not spec:
            raise ArgumentError("%s is not a transformer checkpoint" % (checkpoint,))
        self._ckpt = os.fspath(checkpoint)
        self._spec = spec

    @property
    def spec(self):
        """The canonical spec, e.g. ``"transformer:layers=2,dim=64,heads=4,ctx=64"``."""
        return self._spec

    @property
    def checkpoint(self):
        return self._ckpt

    def generate(self, prompt="", tokens=200, temperature=0.8, seed=0, backend=None):
        """Text after ``prompt``, as :func:`ane_trainer.generate` (and ``ane_trainer generate``)
        samples it from this model's checkpoint: the same seed gives the same text."""
        from .generate import generate
        return generate(self._ckpt, prompt=prompt, tokens=tokens, temperature=temperature, seed=seed,
                        backend=backend)

    def _unsupported(self, *args, **kwargs):
        raise ArgumentError("%s: a transformer model offers spec, checkpoint and generate() (train it with "
                            "`ane_trainer train --model transformer:...`)" % (self._spec,))

    sizes = layers = loss = input_shape = property(_unsupported)
    state_dict = load_state_dict = to_torch = export_coreml = _params = _unsupported

    def __getstate__(self):
        return {"checkpoint": self._ckpt}

    def __setstate__(self, state):
        self.__init__(state["checkpoint"])

    def __repr__(self):
        return "TransformerModel(%r)" % (self._spec,)


class MLP(Model):
    """A multi-layer perceptron: ``MLP([784, 128, 10])`` is Linear(784, 128), ReLU,
    Linear(128, 10) trained with softmax cross-entropy (``Model("mlp:784-128-10")``)."""

    def __init__(self, sizes, seed=0):
        sizes = list(sizes)
        if len(sizes) < 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sizes):
            raise ArgumentError("MLP sizes must be a list of at least two integers, got %r" % (sizes,))
        Model.__init__(self, "mlp:" + "-".join(str(int(s)) for s in sizes), seed)

    def __repr__(self):
        return "MLP(%r)" % (self.sizes,)


def from_torch(module, input_shape=None):
    """A :class:`Model` with the structure and weights of a torch ``nn.Module`` whose
    ``torch.fx`` trace uses only supported layers and functions (docs/python.md): Linear,
    Conv2d, MaxPool2d, AvgPool2d, Flatten / torch.flatten, ReLU / F.relu, LeakyReLU, Sigmoid,
    Tanh, GELU(approximate="tanh"), SiLU, Dropout, LayerNorm, Identity and ``+`` of an earlier
    activation (residual). ``input_shape``: [C, H, W] or [F]; default [in_channels, 28, 28]
    for a convolutional first layer, [in_features] for a Linear one. Anything else raises
    :class:`ArgumentError` naming the first unsupported node and its source line."""
    from . import _torch
    spec, sd = _torch.convert(module, input_shape)
    m = Model(spec)
    m.load_state_dict(sd)
    return m
