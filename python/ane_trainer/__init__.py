"""ane_trainer: train small neural networks on the Apple Neural Engine, or on vane, its
virtual twin, through the C library libane_trainer (ctypes; no numerics in Python).

    import ane_trainer as at
    ds = at.datasets.load("mnist")
    model = at.MLP([784, 128, 10], seed=0)          # or at.from_torch(torch_sequential)
    trainer = at.Trainer(model, optimizer="adam", lr=1e-3, backend="auto")
    history = trainer.fit(ds.x_train, ds.y_train, epochs=5, validation_data=(ds.x_test, ds.y_test),
                          callbacks=[at.EarlyStopping("val_loss", patience=2)])
    history.history["val_accuracy"]                 # Keras's dict of per-epoch lists
    net = model.to_torch()

The library is found through ANE_TRAINER_LIB, next to this package, in the source tree's
build/ directory, or on the system library path (see docs/python.md).
"""
from . import _lib
from . import datasets
from .check import Report, check
from .generate import generate
from .errors import ArgumentError, BackendError, Error, FileError, FormatError
from .model import MLP, Model, TransformerModel, from_torch
from . import callbacks
from .callbacks import Callback, EarlyStopping, History, ModelCheckpoint
from .trainer import Evaluation, Trainer

__all__ = ["MLP", "Model", "TransformerModel", "from_torch", "Trainer", "History", "Evaluation", "callbacks", "Callback",
           "EarlyStopping", "ModelCheckpoint", "check", "Report", "info", "generate",
           "datasets", "version", "Error", "ArgumentError", "FileError", "FormatError", "BackendError"]

#: the version of the loaded C library
version = _lib.dec(_lib.lib.anet_version())
__version__ = version
#: the path of the loaded C library
library_path = _lib.path


def info():
    """What this machine and library can do (``ane_trainer info --json``) as a dict: platform,
    CPU features, whether the Neural Engine framework is present, the backends."""
    return _lib.take_json(_lib.lib.anet_info_json)
