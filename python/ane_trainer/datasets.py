"""Datasets as numpy arrays, found and read by the C library (IDX files, .gz or raw)."""
import ctypes

import numpy as np

from . import _lib

_L = _lib.lib


class Dataset:
    """A loaded image-classification dataset: ``x_train`` [n, rows, cols] uint8, ``y_train``
    [n] uint8, ``x_test``, ``y_test``, ``classes`` and ``path`` (the directory read).
    ``(x_train, y_train), (x_test, y_test) = dataset`` unpacks it."""

    def __init__(self, x_train, y_train, x_test, y_test, classes, path):
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test
        self.classes, self.path = classes, path

    def __iter__(self):
        return iter(((self.x_train, self.y_train), (self.x_test, self.y_test)))

    def __repr__(self):
        return "Dataset(%s: %d train, %d test, %dx%d, %d classes)" % (
            self.path, len(self.y_train), len(self.y_test), self.x_train.shape[1], self.x_train.shape[2],
            self.classes)


def load(name=None, dir=None):
    """Loads a dataset by name ("mnist", "fashion-mnist", "kmnist"; searched as
    ``ane_trainer data list`` does, ``dir`` first) or from a directory holding the four IDX
    files. ``name=None``: mnist if found, else fashion-mnist. Returns a :class:`Dataset`."""
    h = ctypes.c_void_p()
    _lib.check(_L.anet_dataset_load(_lib.enc(name), _lib.enc(dir), ctypes.byref(h)))
    try:
        ntr, nte, rows, cols, k = (ctypes.c_uint32() for _ in range(5))
        _lib.check(_L.anet_dataset_shape(h, ctypes.byref(ntr), ctypes.byref(nte), ctypes.byref(rows),
                                         ctypes.byref(cols), ctypes.byref(k)))
        out = []
        for split, n in ((0, ntr.value), (1, nte.value)):
            x = np.empty((n, rows.value, cols.value), dtype=np.uint8)
            y = np.empty((n,), dtype=np.uint8)
            _lib.check(_L.anet_dataset_copy_split(h, split, ctypes.c_void_p(x.ctypes.data), x.size,
                                                  ctypes.c_void_p(y.ctypes.data), y.size))
            out += [x, y]
        return Dataset(out[0], out[1], out[2], out[3], k.value, _lib.dec(_L.anet_dataset_dir(h)))
    finally:
        _L.anet_dataset_release(h)
