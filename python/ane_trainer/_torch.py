"""PyTorch conversion: torch modules from the library's layer description (to_torch) and
model specs from a torch.fx trace (from_torch). Imported only when torch is used."""
import operator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ArgumentError


class _Add(nn.Module):
    """Residual add: the output of the previous layer plus the input of the layer `back`
    positions before this one (spec ``add:N``)."""

    def __init__(self, back):
        super().__init__()
        self.back = back

    def extra_repr(self):
        return "back=%d" % self.back


class _Graph(nn.Sequential):
    """A Sequential whose _Add layers add earlier activations."""

    def forward(self, x):
        hist = []
        for layer in self:
            hist.append(x)
            x = x + hist[len(hist) - 1 - layer.back] if isinstance(layer, _Add) else layer(x)
        return x


def build(desc):
    """The torch module for a layer description (Model.layers)."""
    mods, residual = [], False
    for l in desc["layers"]:
        k, i = l["kind"], l["in"]
        if k == "linear":
            mods.append(nn.Linear(i[0], l["out"]))
        elif k == "conv":
            mods.append(nn.Conv2d(i[0], l["out"], (l["kh"], l["kw"]), stride=l["stride"], padding=l["pad"],
                                  groups=l["groups"]))
        elif k == "maxpool":
            mods.append(nn.MaxPool2d((l["kh"], l["kw"]), stride=l["stride"], padding=l["pad"]))
        elif k == "avgpool":
            mods.append(nn.AvgPool2d((l["kh"], l["kw"]), stride=l["stride"], padding=l["pad"]))
        elif k == "flatten":
            mods.append(nn.Flatten())
        elif k == "relu":
            mods.append(nn.ReLU())
        elif k == "leakyrelu":
            mods.append(nn.LeakyReLU(l["alpha"]))
        elif k == "sigmoid":
            mods.append(nn.Sigmoid())
        elif k == "tanh":
            mods.append(nn.Tanh())
        elif k == "gelu":
            mods.append(nn.GELU(approximate="tanh"))
        elif k == "silu":
            mods.append(nn.SiLU())
        elif k == "dropout":
            mods.append(nn.Dropout(l["alpha"]))
        elif k == "batchnorm":
            mods.append(nn.BatchNorm2d(i[0]) if len(i) == 3 else nn.BatchNorm1d(i[0]))
        elif k == "layernorm":
            mods.append(nn.LayerNorm(list(i)))
        elif k == "add":
            mods.append(_Add(l["back"]))
            residual = True
        else:
            raise ArgumentError("to_torch: layer kind %r has no torch equivalent here" % k)
    return _Graph(*mods) if residual else nn.Sequential(*mods)


def _pair(v, what, where):
    if isinstance(v, int):
        return v, v
    v = tuple(v)
    if len(v) != 2:
        raise ArgumentError("from_torch: %s: %s %r is not a pair" % (where, what, v))
    return v


def _where(node):
    """The user's source line of a node, from the trace's stack (when torch records it)."""
    st = node.meta.get("stack_trace") if hasattr(node, "meta") else None
    if st:
        lines = [s.strip() for s in st.strip().splitlines() if s.strip()]
        # fx lists the innermost frame (the module's own line) first
        for i, line in enumerate(lines):
            if line.startswith("File "):
                code = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith("File ") else ""
                return "%s: %s" % (line, code) if code else line
    return "node %s" % node.name


def _tok_module(m, node, sd, pos):
    """The spec token of one module (weights into sd under position pos)."""
    where = "%s (%s) at %s" % (node.target, type(m).__name__, _where(node))

    def need(cond, msg):
        if not cond:
            raise ArgumentError("from_torch: %s: %s" % (where, msg))

    def put(w, b):
        sd["%d.weight" % pos] = w.detach().to(torch.float32).cpu().numpy()
        sd["%d.bias" % pos] = b.detach().to(torch.float32).cpu().numpy()

    if isinstance(m, nn.Linear):
        need(m.bias is not None, "Linear without bias is not supported")
        put(m.weight, m.bias)
        return "linear:%d" % m.out_features
    if isinstance(m, nn.Conv2d):
        need(m.bias is not None, "Conv2d without bias is not supported")
        need(m.padding_mode == "zeros", "padding_mode %r: only zeros" % m.padding_mode)
        need(_pair(m.dilation, "dilation", where) == (1, 1),
             "dilation > 1: dilated convolutions are reported not to run on the Neural Engine")
        s, p = _pair(m.stride, "stride", where), m.padding
        need(not isinstance(p, str), "padding=%r: give the padding as numbers" % (p,))
        p = _pair(p, "padding", where)
        need(s[0] == s[1] and p[0] == p[1], "stride and padding must be the same on both axes")
        kh, kw = m.kernel_size
        put(m.weight, m.bias)
        t = "conv:%dx%dx%d" % (m.out_channels, kh, kw)
        if s[0] != 1:
            t += ":s%d" % s[0]
        if p[0]:
            t += ":pad%d" % p[0]
        if m.groups != 1:
            t += ":g%d" % m.groups
        return t
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k = _pair(m.kernel_size, "kernel_size", where)
        s = _pair(m.stride if m.stride is not None else m.kernel_size, "stride", where)
        p = _pair(m.padding, "padding", where)
        need(not m.ceil_mode, "ceil_mode is not supported")
        need(s[0] == s[1] and p[0] == p[1], "stride and padding must be the same on both axes")
        if isinstance(m, nn.MaxPool2d):
            need(_pair(m.dilation, "dilation", where) == (1, 1), "dilation is not supported")
        else:
            need(m.count_include_pad or p == (0, 0), "count_include_pad=False with padding is not supported")
            need(m.divisor_override is None, "divisor_override is not supported")
        t = "%s:%s" % ("maxpool" if isinstance(m, nn.MaxPool2d) else "avgpool",
                       "%d" % k[0] if k[0] == k[1] else "%dx%d" % k)
        if s[0] != k[0]:
            t += ":s%d" % s[0]
        if p[0]:
            t += ":pad%d" % p[0]
        return t
    if isinstance(m, nn.Flatten):
        need(m.start_dim == 1 and m.end_dim == -1, "only Flatten(start_dim=1) is supported")
        return "flatten"
    if isinstance(m, nn.ReLU):
        return "relu"
    if isinstance(m, nn.LeakyReLU):
        return "leakyrelu:%r" % float(m.negative_slope)
    if isinstance(m, nn.Sigmoid):
        return "sigmoid"
    if isinstance(m, nn.Tanh):
        return "tanh"
    if isinstance(m, nn.GELU):
        need(m.approximate == "tanh", "GELU(approximate='none') (erf): use GELU(approximate='tanh'), the form the "
             "Neural Engine runs")
        return "gelu"
    if isinstance(m, nn.SiLU):
        return "silu"
    if isinstance(m, nn.Dropout):
        return "dropout:%r" % float(m.p)
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        need(m.affine and m.track_running_stats, "BatchNorm without affine weight or running statistics is not supported")
        need(abs(m.eps - 1e-5) < 1e-12 and m.momentum == 0.1, "BatchNorm: only eps 1e-5 and momentum 0.1 (the defaults)")
        put(m.weight, m.bias)
        sd["%d.running_mean" % pos] = m.running_mean.detach().to(torch.float32).cpu().numpy()
        sd["%d.running_var" % pos] = m.running_var.detach().to(torch.float32).cpu().numpy()
        return "batchnorm"
    if isinstance(m, nn.LayerNorm):
        need(m.elementwise_affine and m.bias is not None, "LayerNorm without affine weight and bias is not supported")
        need(abs(m.eps - 1e-5) < 1e-12, "LayerNorm eps %g: only the default 1e-5" % m.eps)
        put(m.weight, m.bias)
        return "layernorm"
    raise ArgumentError("from_torch: %s: %s is not a supported layer (docs/python.md lists them)"
                        % (where, type(m).__name__))


_FUNCS = {F.relu: "relu", torch.relu: "relu", torch.sigmoid: "sigmoid", torch.tanh: "tanh", F.silu: "silu"}


def convert(module, input_shape):
    """(spec, state dict) of a torch module, by a torch.fx trace."""
    import torch.fx
    if not isinstance(module, nn.Module):
        raise ArgumentError("from_torch needs a torch.nn.Module, got %s" % type(module).__name__)
    try:
        tracer = torch.fx.Tracer()
        tracer.record_stack_traces = True  # so that errors can name the user's source line
        graph = tracer.trace(module)
        gm = torch.fx.GraphModule(tracer.root, graph)
    except Exception as e:  # the trace fails on data-dependent control flow
        raise ArgumentError("from_torch: torch.fx cannot trace %s: %s" % (type(module).__name__, e)) from None
    mods = dict(gm.named_modules())
    toks, sd = [], {}
    where_of = {}  # fx node -> index of the activation it holds (0 = model input)
    cur = None
    first = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if cur is not None:
                raise ArgumentError("from_torch: %s: the model must take one input" % _where(node))
            cur = node
            where_of[node] = 0
            continue
        if node.op == "output":
            if node.args[0] is not cur:
                raise ArgumentError("from_torch: the output must be the last layer's result (%s)" % _where(node))
            break
        if node.op == "get_attr":
            raise ArgumentError("from_torch: %s: reads parameter %s directly; only layers are supported"
                                % (_where(node), node.target))
        args = [a for a in node.args if isinstance(a, torch.fx.Node)]
        tok = None
        if node.op == "call_module":
            m = mods[node.target]
            if isinstance(m, nn.Identity):
                where_of[node] = where_of[node.args[0]]
                cur = node
                continue
            tok = _tok_module(m, node, sd, len(toks))
            if first is None:
                first = m
        elif node.op == "call_function" and node.target in (operator.add, torch.add):
            if len(args) != 2 or len(node.args) != 2 or node.kwargs:
                raise ArgumentError("from_torch: %s: only a + b of two activations is supported" % _where(node))
            a, b = args
            other = b if a is cur else a if b is cur else None
            if other is None or other is cur or other not in where_of:
                raise ArgumentError("from_torch: %s: + must add an earlier activation to the latest one"
                                    % _where(node))
            back = len(toks) - where_of[other]
            tok = "add:%d" % back
        elif node.op == "call_function" and node.target in _FUNCS and len(node.args) == 1 and not node.kwargs:
            tok = _FUNCS[node.target]
        elif node.op == "call_function" and node.target is torch.flatten:
            sd_ = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            ed = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
            if sd_ != 1 or ed != -1:
                raise ArgumentError("from_torch: %s: only torch.flatten(x, 1) is supported" % _where(node))
            tok = "flatten"
        elif node.op == "call_method" and node.target == "flatten":
            sd_ = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            if sd_ != 1:
                raise ArgumentError("from_torch: %s: only x.flatten(1) is supported" % _where(node))
            tok = "flatten"
        elif node.op == "call_method" and node.target == "relu" and len(node.args) == 1:
            tok = "relu"
        else:
            what = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
            raise ArgumentError("from_torch: %s: %s %s is not supported (docs/python.md lists what is)"
                                % (_where(node), node.op.replace("_", " "), what))
        if args and tok is not None and not tok.startswith("add") and args[0] is not cur:
            raise ArgumentError("from_torch: %s: takes an earlier activation, not the latest; only a chain of "
                                "layers with residual + is supported" % _where(node))
        toks.append(tok)
        cur = node
        where_of[node] = len(toks)
    if not toks:
        raise ArgumentError("from_torch: the module has no layers")
    if input_shape is None:
        if isinstance(first, nn.Conv2d):
            input_shape = (first.in_channels, 28, 28)
        elif isinstance(first, nn.Linear):
            input_shape = (first.in_features,)
        else:
            raise ArgumentError("from_torch: give input_shape=[C, H, W] or [F] (the first layer is %s)"
                                % type(first).__name__)
    shape = [int(v) for v in np.atleast_1d(input_shape)]
    if len(shape) not in (1, 3):
        raise ArgumentError("from_torch: input_shape %r: [C, H, W] or [F]" % (input_shape,))
    spec = "in:%s,%s" % ("x".join(str(v) for v in shape), ",".join(toks))
    return spec, sd
