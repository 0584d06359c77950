"""Argument checks for the numpy arrays handed to the C library. No numerics here: arrays are
only checked, flattened (a view) or made contiguous (a copy of the same values)."""
import ctypes

import numpy as np

from . import _lib
from .errors import ArgumentError


def samples(x, name="x"):
    """Returns (contiguous 2-D array, C data type code, n, features) for uint8 images
    ([n, rows, cols] or [n, features]) or float32 features ([n, features])."""
    if not isinstance(x, np.ndarray):
        if hasattr(x, "detach") and hasattr(x, "numpy"):
            raise ArgumentError("%s is a torch tensor: pass a numpy array (%s.numpy())" % (name, name))
        x = np.asarray(x)
    if x.dtype == np.uint8:
        code = _lib.ANET_DATA_U8
    elif x.dtype == np.float32:
        code = _lib.ANET_DATA_F32
    else:
        raise ArgumentError(
            "%s has dtype %s: pass uint8 images (scaled by 1/255 as the datasets are) or float32 "
            "features (e.g. %s.astype(np.float32))" % (name, x.dtype, name))
    if x.ndim < 2:
        raise ArgumentError("%s has shape %s: expected [n, features] or [n, rows, cols]" % (name, x.shape))
    n = x.shape[0]
    if n == 0:
        raise ArgumentError("%s has no samples (shape %s)" % (name, x.shape))
    features = int(np.prod(x.shape[1:]))
    x2 = np.ascontiguousarray(x.reshape(n, features))
    return x2, code, n, features


def one_sample(x, features):
    """(x as a batch, True) when x is a single sample: a [features] vector or an image whose
    pixels are the features (e.g. [28, 28] for 784); else (x, False)."""
    a = x if isinstance(x, np.ndarray) else np.asarray(x)
    if a.ndim == 1 and a.shape[0] == features:
        return a[None], True
    if a.ndim == 2 and a.shape[0] != 1 and a.shape[0] * a.shape[1] == features:
        return a[None], True
    return x, False


def labels(y, n, name="y"):
    """Returns y as a contiguous int64 array of length n (any integer dtype accepted; the
    library checks the range against the model's classes)."""
    if not isinstance(y, np.ndarray):
        y = np.asarray(y)
    if y.ndim != 1:
        raise ArgumentError("%s has shape %s: expected [n] class indices" % (name, y.shape))
    if y.shape[0] != n:
        raise ArgumentError("%s has %d labels but x has %d samples" % (name, y.shape[0], n))
    if not np.issubdtype(y.dtype, np.integer):
        raise ArgumentError("%s has dtype %s: expected integer class indices" % (name, y.dtype))
    if y.dtype == np.uint64 and n and int(y.max()) > np.iinfo(np.int64).max:
        raise ArgumentError("%s holds a label beyond int64" % name)
    return np.ascontiguousarray(y, dtype=np.int64)


def ptr(a, ctype):
    return a.ctypes.data_as(ctypes.POINTER(ctype))


def vptr(a):
    return ctypes.c_void_p(a.ctypes.data)
