"""Core ML export: a model as an ML Program ``.mlpackage`` for Xcode, ``MLModel`` and Vision
(see docs/deploy.md). The program is the model's eval program with the weights as constants."""
import json

from . import _lib
from .errors import ArgumentError

_L = _lib.lib

_TARGETS = ("iOS16", "iOS17", "iOS18")


def export_coreml(model, path, *, precision="fp16", minimum_deployment_target="iOS16", input="array",
                  dataset=None, regression=False, author=None, version=None, license=None, description=None):
    """Writes ``model`` (an :class:`MLP`) as a Core ML package at ``path``.

    The input is ``image`` (a 1x28x28 multi-array, pixel / 255) for 784-input models, else
    ``features`` (``input="image"``: a Core ML grayscale image of 8-bit pixels, which Vision
    can feed); the outputs are ``classLabel`` and ``classProbabilities`` (labels of
    ``dataset``: "mnist", "fashion-mnist", "kmnist"; class indices otherwise) or, with
    ``regression=True``, ``output``. Returns ``path``.
    """
    if precision not in ("fp16", "fp32"):
        raise ArgumentError("precision %r: expected 'fp16' or 'fp32'" % (precision,))
    if minimum_deployment_target not in _TARGETS:
        raise ArgumentError("minimum_deployment_target %r: expected one of %s" % (minimum_deployment_target,
                                                                                 ", ".join(_TARGETS)))
    if input not in ("array", "image"):
        raise ArgumentError("input %r: expected 'array' or 'image'" % (input,))
    opts = {"precision": precision, "minimum_deployment_target": minimum_deployment_target, "input": input,
            "regression": bool(regression)}
    for key, value in (("dataset", dataset), ("author", author), ("version", version), ("license", license),
                       ("description", description)):
        if value is not None:
            if not isinstance(value, str):
                raise ArgumentError("%s must be a string, got %s" % (key, type(value).__name__))
            opts[key] = value
    _lib.check(_L.anet_model_export_coreml(model._h, _lib.enc(path), json.dumps(opts).encode("utf-8")))
    return path
