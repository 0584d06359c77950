"""Loading of the C library (libane_trainer) and the ctypes prototypes of its public API.

Every function of include/ane_trainer.h that this package calls is declared here with explicit
argtypes and restype; nothing else in the package touches ctypes function objects directly.
"""
import ctypes
import ctypes.util
import numbers
import os
import sys
from pathlib import Path

from .errors import _raise_for

#: the C API version this package was written against (ANET_API_VERSION)
API_VERSION = 1

_LIBNAME = "libane_trainer.dylib" if sys.platform == "darwin" else "libane_trainer.so"

_HOW_TO_FIX = (
    "Build the C library (cmake -S . -B build && cmake --build build in the ane_trainer source "
    "tree), then either set ANE_TRAINER_LIB to the path of {name}, copy {name} next to the "
    "package (into the ane_trainer/ directory before `pip install ./python`), or install it on "
    "the system library path (ldconfig / DYLD_LIBRARY_PATH)."
).format(name=_LIBNAME)


def _candidates():
    """(where, path) pairs in search order; ANE_TRAINER_LIB, when set, is the only one."""
    env = os.environ.get("ANE_TRAINER_LIB")
    if env:
        return [("ANE_TRAINER_LIB", env)]
    here = Path(__file__).resolve().parent
    out = [("next to the package", str(here / _LIBNAME))]
    # Used from a source checkout: <repo>/python/ane_trainer -> <repo>/build
    out.append(("the build tree", str(here.parent.parent / "build" / _LIBNAME)))
    found = ctypes.util.find_library("ane_trainer")
    out.append(("the system library path", found or _LIBNAME))
    return out


def _load():
    tried = []
    for where, path in _candidates():
        if where == "ANE_TRAINER_LIB" and not os.path.isfile(path):
            raise ImportError(
                "ane_trainer: ANE_TRAINER_LIB=%s: no such file. %s" % (path, _HOW_TO_FIX))
        if where != "the system library path" and not os.path.isfile(path):
            tried.append("%s (%s: not found)" % (path, where))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            if where == "ANE_TRAINER_LIB":
                raise ImportError("ane_trainer: ANE_TRAINER_LIB=%s cannot be loaded: %s. %s"
                                  % (path, e, _HOW_TO_FIX)) from None
            tried.append("%s (%s: %s)" % (path, where, e))
    raise ImportError("ane_trainer: the C library %s was not found; tried: %s. %s"
                      % (_LIBNAME, "; ".join(tried), _HOW_TO_FIX))


lib, path = _load()

c_int, c_size_t, c_double, c_char_p, c_void_p = (ctypes.c_int, ctypes.c_size_t, ctypes.c_double,
                                                 ctypes.c_char_p, ctypes.c_void_p)
c_uint32, c_int64, c_uint64, c_float = ctypes.c_uint32, ctypes.c_int64, ctypes.c_uint64, ctypes.c_float
P = ctypes.POINTER
status = ctypes.c_int  # anet_status

# name: (restype, [argtypes])
_PROTOTYPES = {
    "anet_last_error": (c_char_p, []),
    "anet_status_str": (c_char_p, [c_int]),
    "anet_version": (c_char_p, []),
    "anet_api_version": (c_int, []),
    "anet_free": (None, [c_void_p]),
    # character transformers
    "anet_generate_text": (status, [c_char_p, c_char_p, c_int64, c_double, c_uint64, c_char_p, P(c_void_p)]),
    # models
    "anet_model_new": (status, [c_char_p, c_uint64, P(c_void_p)]),
    "anet_model_load": (status, [c_char_p, P(c_void_p)]),
    "anet_model_free": (None, [c_void_p]),
    "anet_model_spec_text": (c_char_p, [c_void_p]),
    "anet_model_num_params": (c_int, [c_void_p]),
    "anet_model_dims": (status, [c_void_p, P(c_int64), c_size_t, P(c_size_t)]),
    "anet_model_layers_json": (status, [c_void_p, P(c_void_p)]),
    "anet_model_param_info": (status, [c_void_p, c_int, c_char_p, c_size_t, P(c_int64), P(c_int64)]),
    "anet_model_get_param": (status, [c_void_p, c_int, P(c_float), c_size_t]),
    "anet_model_set_param": (status, [c_void_p, c_int, P(c_float), c_size_t]),
    # trainers
    "anet_trainer_new": (status, [c_void_p, c_char_p, P(c_void_p)]),
    "anet_trainer_load": (status, [c_char_p, c_char_p, P(c_void_p)]),
    "anet_trainer_free": (None, [c_void_p]),
    "anet_trainer_fit_epoch": (status, [c_void_p, c_void_p, c_int, P(c_int64), c_size_t, c_size_t,
                                        P(c_double)]),
    "anet_trainer_evaluate": (status, [c_void_p, c_void_p, c_int, P(c_int64), c_size_t, c_size_t,
                                       P(c_double), P(c_double)]),
    "anet_trainer_fit_epoch_targets": (status, [c_void_p, c_void_p, c_int, P(c_float), c_size_t, c_size_t,
                                                P(c_double)]),
    "anet_trainer_evaluate_targets": (status, [c_void_p, c_void_p, c_int, P(c_float), c_size_t, c_size_t,
                                               P(c_double)]),
    "anet_trainer_predict": (status, [c_void_p, c_void_p, c_int, c_size_t, c_size_t, P(c_float)]),
    "anet_trainer_save": (status, [c_void_p, c_char_p]),
    "anet_trainer_restore": (status, [c_void_p, c_char_p]),
    "anet_trainer_get_model": (status, [c_void_p, c_void_p]),
    "anet_trainer_set_model": (status, [c_void_p, c_void_p]),
    "anet_trainer_model_spec": (c_char_p, [c_void_p]),
    "anet_trainer_set_total_epochs": (status, [c_void_p, c_int]),
    "anet_trainer_request_stop": (status, [c_void_p, c_int]),
    "anet_trainer_interrupted": (c_int, [c_void_p]),
    "anet_trainer_set_lr": (status, [c_void_p, c_double]),
    "anet_trainer_set_shuffle": (status, [c_void_p, c_int]),
    "anet_trainer_backend_name": (c_char_p, [c_void_p]),
    "anet_trainer_backend_reason": (c_char_p, [c_void_p]),
    "anet_trainer_epochs_done": (c_int, [c_void_p]),
    "anet_trainer_stats_json": (status, [c_void_p, P(c_void_p)]),
    # datasets
    "anet_dataset_load": (status, [c_char_p, c_char_p, P(c_void_p)]),
    "anet_dataset_release": (None, [c_void_p]),
    "anet_dataset_shape": (status, [c_void_p, P(c_uint32), P(c_uint32), P(c_uint32), P(c_uint32),
                                    P(c_uint32)]),
    "anet_dataset_copy_split": (status, [c_void_p, c_int, c_void_p, c_size_t, c_void_p, c_size_t]),
    "anet_dataset_dir": (c_char_p, [c_void_p]),
    # information and check
    "anet_info_json": (status, [P(c_void_p)]),
    "anet_check_json": (status, [c_char_p, c_char_p, P(c_void_p)]),
    "anet_model_export_coreml": (status, [c_void_p, c_char_p, c_char_p]),
}

# The range of each C integer type: ctypes silently wraps a Python int that does not fit
# (10**12 as an int is -727379959), so every integer argument is checked before the call.
_INT_RANGES = {
    c_int: (-2 ** 31, 2 ** 31 - 1),
    c_uint32: (0, 2 ** 32 - 1),
    c_int64: (-2 ** 63, 2 ** 63 - 1),
    c_uint64: (0, 2 ** 64 - 1),
    c_size_t: (0, 2 ** (8 * ctypes.sizeof(c_size_t)) - 1),
}


def _int_checked(name, fn, argtypes):
    checks = [(i, t) for i, t in enumerate(argtypes) if t in _INT_RANGES]
    if not checks:
        return fn

    def call(*args):
        for i, t in checks:
            v = args[i]
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                from .errors import ArgumentError
                raise ArgumentError("%s: argument %d must be an integer, got %r" % (name, i + 1, v))
            lo, hi = _INT_RANGES[t]
            if not lo <= int(v) <= hi:
                from .errors import ArgumentError
                raise ArgumentError("%s: argument %d = %d does not fit the C type %s (%d..%d)"
                                    % (name, i + 1, int(v), t.__name__, lo, hi))
        return fn(*args)
    call.__name__ = name
    return call


class _API:
    """The library's functions with their prototypes; integer arguments range-checked."""


_raw = lib
lib = _API()
for _name, (_res, _args) in _PROTOTYPES.items():
    try:
        _fn = getattr(_raw, _name)
    except AttributeError:
        raise ImportError("ane_trainer: %s has no function %s: the library is older than this package; "
                          "rebuild it. %s" % (path, _name, _HOW_TO_FIX)) from None
    _fn.restype = _res
    _fn.argtypes = _args
    setattr(lib, _name, _int_checked(_name, _fn, _args))

if lib.anet_api_version() != API_VERSION:
    raise ImportError("ane_trainer: %s implements C API version %d, this package needs %d. %s"
                      % (path, lib.anet_api_version(), API_VERSION, _HOW_TO_FIX))

ANET_DATA_U8 = 0
ANET_DATA_F32 = 1


def check(st):
    """Raises the Python exception for a failed anet_status, with the library's message."""
    if st != 0:
        msg = lib.anet_last_error()
        name = lib.anet_status_str(st)
        _raise_for(int(st), msg.decode("utf-8", "replace") if msg else "",
                   name.decode() if name else "error")


def enc(s):
    """A Python str as a C string (None stays NULL)."""
    if s is None:
        return None
    if isinstance(s, os.PathLike):
        s = os.fspath(s)
    if isinstance(s, bytes):
        return s
    if not isinstance(s, str):
        from .errors import ArgumentError
        raise ArgumentError("expected a string or path, got %s" % type(s).__name__)
    if "\0" in s:
        from .errors import ArgumentError
        raise ArgumentError("string contains a NUL character: %r" % s)
    return s.encode("utf-8")


def dec(b):
    return b.decode("utf-8", "replace") if b else ""


def take_json(call, *args):
    """Calls an API function whose last argument is a `char **` JSON result; returns the dict."""
    import json
    out = c_void_p()
    check(call(*args, ctypes.byref(out)))
    try:
        return json.loads(ctypes.string_at(out.value).decode("utf-8"))
    finally:
        lib.anet_free(out)
