"""Text from a character-transformer checkpoint (the C library's anet_generate_text)."""
import ctypes

from . import _lib
from .errors import ArgumentError


def generate(checkpoint, prompt="", tokens=200, temperature=0.8, seed=0, backend=None):
    """Samples ``tokens`` characters after ``prompt`` from a checkpoint written by
    ``ane_trainer train --model transformer:... --out DIR`` (``DIR/checkpoint.safetensors``),
    exactly as ``ane_trainer generate`` does: the same seed gives the same text, temperature 0
    takes the most likely character. Returns the prompt followed by the sampled characters.
    A prompt character outside the checkpoint's vocabulary raises :class:`ane_trainer.Error`."""
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 0 <= tokens <= 1000000:
        raise ArgumentError("tokens must be an integer in 0..1000000, got %r" % (tokens,))
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 64:
        raise ArgumentError("seed must be an integer in 0..2**64-1, got %r" % (seed,))
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise ArgumentError("temperature must be a number, got %r" % (temperature,)) from None
    if not 0 <= t <= 100:
        raise ArgumentError("temperature must be in [0, 100], got %r" % (temperature,))
    out = ctypes.c_void_p()
    _lib.check(_lib.lib.anet_generate_text(_lib.enc(checkpoint), _lib.enc(prompt), tokens, t, seed,
                                           _lib.enc(backend), ctypes.byref(out)))
    try:
        return ctypes.string_at(out.value).decode("latin-1")
    finally:
        _lib.lib.anet_free(out)
