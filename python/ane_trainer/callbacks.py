"""Keras-shaped training callbacks and the :class:`History` that :meth:`Trainer.fit` returns.

A callback sees each epoch's ``logs`` dict (``loss``, ``accuracy``, ``lr`` and with validation
data ``val_loss``, ``val_accuracy``) and may stop training by setting
``trainer.stop_training = True``.
"""
import math

import numpy as np

from .errors import ArgumentError

#: the per-epoch keys of History.history / the logs callbacks see (Keras's names)
LOG_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")


class _Metrics(dict):
    """A dict of lists that names the keys it has when asked for one it lacks."""

    def __missing__(self, key):
        raise KeyError("%r: History.history has %s" % (key, ", ".join(sorted(self)) or "no keys (no epoch trained)"))


class History:
    """What :meth:`Trainer.fit` did. ``history.history`` is a dict of per-epoch lists as in
    Keras (``loss``, ``accuracy``, ``lr`` and, with validation data, ``val_loss`` and
    ``val_accuracy``; an unknown key raises KeyError); ``history.epoch`` lists the epoch
    numbers (1-based, counting a loaded checkpoint's). ``records`` keeps one dict per epoch
    with every figure of the library's metrics line (train_loss, step, samples_per_s,
    dispatches, ...); ``history["val_acc"]`` reads one key across them (earlier names:
    train_loss, val_acc). ``interrupted`` is True when Ctrl-C ended fit early."""

    def __init__(self):
        self.records = []
        self.history = _Metrics()
        self.epoch = []
        self.interrupted = False

    def _append(self, epoch, logs, record):
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)
        self.records.append(record)

    def __getitem__(self, key):
        if key in self.history:
            return list(self.history[key])
        if any(key in r for r in self.records):
            return [r.get(key) for r in self.records]
        known = sorted(set(self.history) | {k for r in self.records for k in r})
        raise KeyError("%r: History has %s" % (key, ", ".join(known) or "no epochs"))

    def __len__(self):
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __repr__(self):
        return "History(%d epochs%s)" % (len(self.records), ", interrupted" if self.interrupted else "")


class Callback:
    """Base class: override the hooks you need. ``self.trainer`` is set before training."""

    trainer = None

    def set_trainer(self, trainer):
        self.trainer = trainer

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class _Monitor(Callback):
    """Tracks the best value of one logged metric (min for losses, max for accuracies)."""

    def __init__(self, monitor, mode, min_delta=0.0):
        if not isinstance(monitor, str) or not monitor:
            raise ArgumentError("monitor must be a metric name such as 'val_loss', got %r" % (monitor,))
        if mode not in ("auto", "min", "max"):
            raise ArgumentError("mode must be 'auto', 'min' or 'max', got %r" % (mode,))
        if mode == "auto":
            mode = "max" if ("acc" in monitor) else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(float(min_delta))
        self.best = None

    def _value(self, logs):
        if self.monitor not in logs:
            raise ArgumentError("%s(monitor=%r): fit logs only %s (val_* needs validation_data or "
                                "validation_split)" % (type(self).__name__, self.monitor, ", ".join(sorted(logs))))
        return float(logs[self.monitor])

    def _improved(self, v):
        if math.isnan(v):
            return False
        if self.best is None:
            return True
        return v < self.best - self.min_delta if self.mode == "min" else v > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stops training when ``monitor`` has not improved for ``patience`` epochs; with
    ``restore_best_weights`` the model and trainer go back to the best epoch's weights at the
    end (the optimizer state stays that of the last epoch, as in Keras)."""

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False):
        super().__init__(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise ArgumentError("patience must be an integer >= 0, got %r" % (patience,))
        self.patience = int(patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self._best_weights = None

    def on_train_begin(self, logs=None):
        self.wait, self.best, self.stopped_epoch, self.best_epoch, self._best_weights = 0, None, None, None, None

    def on_epoch_end(self, epoch, logs=None):
        v = self._value(logs or {})
        if self._improved(v):
            self.best, self.best_epoch, self.wait = v, epoch, 0
            if self.restore_best_weights:
                self._best_weights = self.trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self._best_weights is not None and self.stopped_epoch is not None:
            self.trainer.set_weights(self._best_weights)


class ModelCheckpoint(_Monitor):
    """Saves the full training state (:meth:`Trainer.save`, the CLI's checkpoint format) after
    every epoch, or with ``save_best_only`` only when ``monitor`` improved. ``path`` may hold
    format fields of the logs: ``"ckpt-{epoch:02d}-{val_accuracy:.3f}.safetensors"``."""

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        super().__init__(monitor, mode)
        self.path = str(path)
        self.save_best_only = bool(save_best_only)
        self.saved = []

    def on_train_begin(self, logs=None):
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            v = self._value(logs)
            if not self._improved(v):
                return
            self.best = v
        try:
            path = self.path.format(epoch=epoch, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ArgumentError("ModelCheckpoint path %r: %s (fields: epoch, %s)"
                                % (self.path, e, ", ".join(sorted(logs)))) from None
        self.trainer.save(path)
        self.saved.append(path)


class LambdaCallback(Callback):
    """The earlier ``fit(callback=f)``: ``f(epoch, record)`` after each epoch; False stops."""

    def __init__(self, fn):
        if not callable(fn):
            raise ArgumentError("callback must be callable")
        self.fn = fn
        self.record = None

    def on_epoch_end(self, epoch, logs=None):
        if self.fn(epoch, self.record) is False:
            self.trainer.stop_training = True
