"""Training on the ANE (or on vane, the virtual ANE) from numpy arrays."""
import collections
import ctypes
import math
import numbers
import threading

import numpy as np

from . import _arrays, _lib
from ._guard import Guard
from .errors import ArgumentError
from .model import MLP

_L = _lib.lib

#: the library's limit on a trainer's epochs (anet_trainer_set_total_epochs, --epochs)
_MAX_EPOCHS = 1000000

Evaluation = collections.namedtuple("Evaluation", ["accuracy", "loss"])
Evaluation.__doc__ = "Result of :meth:`Trainer.evaluate`: accuracy in [0, 1] and mean cross-entropy."


class History:
    """What :meth:`Trainer.fit` did: one dict per epoch (``records``); ``history["val_acc"]``
    is the list of one key over the epochs. Keys: epoch, train_loss, step, epoch_seconds,
    samples_per_s, loss_scale, skipped_steps, lr, backend, compiles, dispatches,
    dispatches_per_step, bytes_per_step, host_us_per_step, and with validation data val_acc and val_loss."""

    def __init__(self):
        self.records = []

    def __getitem__(self, key):
        return [r.get(key) for r in self.records]

    def __len__(self):
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __repr__(self):
        return "History(%d epochs)" % len(self.records)


def _opt_value(key, v):
    """One key=value of the options string; values are checked again by the library."""
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, numbers.Integral):
        return "%s=%d" % (key, v)
    if isinstance(v, numbers.Real):
        if not math.isfinite(v):
            raise ArgumentError("%s=%r: must be a finite number" % (key, v))
        return "%s=%s" % (key, repr(float(v)))
    if isinstance(v, str):
        if not v or any(c.isspace() or c == "=" for c in v):
            raise ArgumentError("%s=%r: not a valid value" % (key, v))
        return "%s=%s" % (key, v)
    raise ArgumentError("%s: unsupported value %r" % (key, v))


def _options(**kw):
    return " ".join(_opt_value(k, v) for k, v in kw.items() if v is not None)


class Trainer:
    """Trains an :class:`MLP` with every step as MIL programs on a backend (compiled once for
    ``batch_size``): forward, loss and backward on the (virtual) ANE; with ``update="cpu"`` the
    optimizer runs on fp32 master weights on the CPU, with ``update="ane"`` inside the program.

    Settings and defaults are those of ``ane_trainer train`` (docs/training.md): ``optimizer``
    adam|adamw|sgd, ``lr`` (default 1e-3, sgd 1e-2), ``momentum``, ``weight_decay``, ``beta1``,
    ``beta2``, ``eps``, ``schedule`` constant|cosine|warmup|warmup-cosine, ``warmup_steps``,
    ``seed`` (shuffling), ``batch_size`` (128), ``backend`` auto|vane|ane|ane-sim, ``chip``
    (m4), ``update`` cpu|ane, ``numerics`` fp16|fp32, ``loss_scale``, ``loss_scale_growth``,
    ``verbose`` (progress on stderr).

    The trainer starts from a copy of ``model``'s weights and writes the trained weights back
    into ``model`` after every epoch. With the same seed and settings, training matches the
    CLI on a dataset with the same samples batch for batch (identical metrics on vane).
    """

    def __init__(self, model, optimizer="adam", lr=None, backend="auto", update="cpu", seed=0,
                 batch_size=128, chip="m4", numerics="fp16", schedule="constant", warmup_steps=None,
                 momentum=None, weight_decay=None, beta1=None, beta2=None, eps=None,
                 loss_scale=None, loss_scale_growth=None, verbose=False):
        if not isinstance(model, MLP):
            raise ArgumentError("Trainer needs an ane_trainer.MLP (use ane_trainer.from_torch for a "
                                "torch module), got %s" % type(model).__name__)
        opts = _options(optimizer=optimizer, lr=lr, backend=backend, update=update, seed=seed,
                        batch_size=batch_size, chip=chip, numerics=numerics, schedule=schedule,
                        warmup_steps=warmup_steps, momentum=momentum, weight_decay=weight_decay,
                        beta1=beta1, beta2=beta2, eps=eps, loss_scale=loss_scale,
                        loss_scale_growth=loss_scale_growth, quiet=0 if verbose else 1)
        h = ctypes.c_void_p()
        _lib.check(_L.anet_trainer_new(model._h, _lib.enc(opts), ctypes.byref(h)))
        self._guard = Guard(h, _L.anet_trainer_free, "Trainer")
        self.model = model

    @classmethod
    def load(cls, checkpoint, **options):
        """A trainer continuing a checkpoint (written by the CLI or by :meth:`save`): model,
        weights, optimizer state, step, loss scale and options from the file; keyword options
        (``backend``, ``lr``, ``verbose``, ...) override. ``trainer.model`` is a new MLP."""
        verbose = options.pop("verbose", False)
        opts = _options(quiet=0 if verbose else 1, **options)
        h = ctypes.c_void_p()
        _lib.check(_L.anet_trainer_load(_lib.enc(checkpoint), _lib.enc(opts), ctypes.byref(h)))
        t = cls.__new__(cls)
        t._guard = Guard(h, _L.anet_trainer_free, "Trainer")
        t.model = MLP.from_spec(_lib.dec(_L.anet_trainer_model_spec(h)))
        t._pull()
        return t

    def close(self):
        """Releases the trainer's programs and buffers (also done when it is garbage collected).
        Safe from any thread and from a ``fit`` callback: a call in flight keeps the trainer
        alive until it returns (a ``fit`` closed from its callback stops after that epoch; one
        closed from another thread raises :class:`ArgumentError` before its next epoch)."""
        g = getattr(self, "_guard", None)
        if g is not None and _L is not None:
            g.close()

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _use(self):
        """``with self._use() as h``: the C handle, kept alive (and to this thread) meanwhile."""
        g = getattr(self, "_guard", None)
        if g is None:
            raise ArgumentError("this Trainer is closed")
        return g.use()

    def _pull(self):
        with self._use() as h:
            _lib.check(_L.anet_trainer_get_model(h, self.model._h))

    @property
    def backend(self):
        """The backend in use: "vane", "ane" or "ane-sim"."""
        with self._use() as h:
            return _lib.dec(_L.anet_trainer_backend_name(h))

    @property
    def backend_reason(self):
        """Why that backend was chosen."""
        with self._use() as h:
            return _lib.dec(_L.anet_trainer_backend_reason(h))

    @property
    def epochs_done(self):
        """Epochs trained so far (a loaded checkpoint's included)."""
        with self._use() as h:
            return int(_L.anet_trainer_epochs_done(h))

    @property
    def stats(self):
        """Options and counters as a dict (step, loss_scale, skipped_steps, compiles,
        dispatches, optimizer, batch_size, ..., and ``last_epoch``: the last epoch's metrics)."""
        with self._use() as h:
            return _lib.take_json(_L.anet_trainer_stats_json, h)

    @property
    def batch_size(self):
        """The batch size the programs were compiled for."""
        return int(self.stats["batch_size"])

    def fit(self, x, y, epochs=1, batch_size=None, validation=None, callback=None):
        """Trains ``epochs`` more epochs on x (uint8 images [n, 28, 28] / [n, features], or
        float32 features [n, features]) and integer labels y [n]. Each epoch shuffles with
        (seed, epoch) and drops the last partial batch, as the CLI does.

        ``batch_size``, when given, must equal the trainer's (programs are compiled for it).
        ``validation=(x_val, y_val)`` adds val_acc and val_loss to each epoch's record.
        ``callback(epoch, record)`` is called after every epoch (``self.model`` then holds the
        epoch's weights); returning False stops training. Returns a :class:`History`."""
        if not isinstance(epochs, numbers.Integral) or isinstance(epochs, bool) or not 1 <= epochs <= _MAX_EPOCHS:
            raise ArgumentError("epochs must be an integer in 1..%d, got %r" % (_MAX_EPOCHS, epochs))
        with self._use() as h:
            return self._fit(h, x, y, int(epochs), batch_size, validation, callback)

    def _fit(self, h, x, y, epochs, batch_size, validation, callback):
        if batch_size is not None and batch_size != self.batch_size:
            raise ArgumentError("batch_size %r: this trainer's programs are compiled for batch %d; create a "
                                "Trainer(..., batch_size=%r)" % (batch_size, self.batch_size, batch_size))
        if callback is not None and not callable(callback):
            raise ArgumentError("callback must be callable")
        xs, code, n, feat = _arrays.samples(x)
        ys = _arrays.labels(y, n)
        val = None
        if validation is not None:
            if not isinstance(validation, (tuple, list)) or len(validation) != 2:
                raise ArgumentError("validation must be a pair (x_val, y_val)")
            vx, vcode, vn, vfeat = _arrays.samples(validation[0], "x_val")
            vy = _arrays.labels(validation[1], vn, "y_val")
            # The library checks these too, but only when it evaluates, after the first epoch:
            # a bad validation set fails here, before any training.
            sizes = self.model.sizes
            if vfeat != sizes[0]:
                raise ArgumentError("x_val has %d features per sample but model %s takes %d inputs"
                                    % (vfeat, self.model.spec, sizes[0]))
            if vy.min() < 0 or vy.max() >= sizes[-1]:
                raise ArgumentError("y_val holds labels outside 0..%d" % (sizes[-1] - 1))
            val = (vx, vcode, vy, vn, vfeat)
        if self.epochs_done + epochs > _MAX_EPOCHS:
            raise ArgumentError("epochs %d after %d done: at most %d in all" % (epochs, self.epochs_done, _MAX_EPOCHS))
        _lib.check(_L.anet_trainer_set_total_epochs(h, self.epochs_done + epochs))
        history = History()
        for _ in range(epochs):
            if self._guard.closed:  # by another thread, while the last epoch ran
                raise ArgumentError("this Trainer was closed during fit (after %d epochs)" % len(history))
            loss = ctypes.c_double()
            _lib.check(_L.anet_trainer_fit_epoch(h, _arrays.vptr(xs), code, _arrays.ptr(ys, ctypes.c_int64),
                                                 n, feat, ctypes.byref(loss)))
            self._pull()
            rec = dict(self.stats["last_epoch"])
            for k in ("event", "test_acc", "update", "chip", "numerics"):
                rec.pop(k, None)
            if val is not None:
                ev = self._evaluate(*val)
                rec["val_acc"], rec["val_loss"] = ev.accuracy, ev.loss
            history.records.append(rec)
            if callback is not None and callback(rec["epoch"], rec) is False:
                break
            if self._guard.closed and self._guard.closed_by == threading.get_ident():
                break  # closed by the callback: a request to stop
        return history

    def _evaluate(self, xs, code, ys, n, feat):
        acc, loss = ctypes.c_double(), ctypes.c_double()
        with self._use() as h:
            _lib.check(_L.anet_trainer_evaluate(h, _arrays.vptr(xs), code, _arrays.ptr(ys, ctypes.c_int64), n, feat,
                                                ctypes.byref(acc), ctypes.byref(loss)))
        return Evaluation(acc.value, loss.value)

    def evaluate(self, x, y):
        """Accuracy (argmax of the logits) and mean softmax cross-entropy on (x, y), computed
        by the eval program on the current weights. Returns an :class:`Evaluation`."""
        xs, code, n, feat = _arrays.samples(x)
        return self._evaluate(xs, code, _arrays.labels(y, n), n, feat)

    def predict(self, x):
        """Logits [n, classes] (float32) of the eval program for x."""
        xs, code, n, feat = _arrays.samples(x)
        out = np.empty((n, self.model.sizes[-1]), dtype=np.float32)
        with self._use() as h:
            _lib.check(_L.anet_trainer_predict(h, _arrays.vptr(xs), code, n, feat, _arrays.ptr(out, ctypes.c_float)))
        return out

    def save(self, path):
        """Writes the full training state as a safetensors checkpoint (the CLI's format;
        ``ane_trainer eval PATH --dataset ...`` reads it). The write is atomic."""
        with self._use() as h:
            _lib.check(_L.anet_trainer_save(h, _lib.enc(path)))

    def restore(self, path):
        """Continues from a checkpoint of the same model, update mode, optimizer and batch
        size (else :class:`ArgumentError`; the trainer is then unchanged)."""
        with self._use() as h:
            _lib.check(_L.anet_trainer_restore(h, _lib.enc(path)))
            self._pull()

    def __repr__(self):
        g = getattr(self, "_guard", None)
        if g is None or g.closed:
            return "Trainer(closed)"
        return "Trainer(%s, backend=%r, epochs_done=%d)" % (self.model.spec, self.backend, self.epochs_done)
