"""Training on the ANE (or on vane, the virtual ANE) from numpy arrays."""
import collections
import ctypes
import math
import numbers
import os
import re
import tempfile
import threading
import time

import numpy as np

from . import _arrays, _lib
from ._guard import Guard
from .callbacks import Callback, History, LambdaCallback
from .errors import ArgumentError, BackendError, Error
from .model import Model, _new_handle
from .progress import Progress

_L = _lib.lib

#: the library's limit on a trainer's epochs (anet_trainer_set_total_epochs, --epochs)
_MAX_EPOCHS = 1000000

Evaluation = collections.namedtuple("Evaluation", ["accuracy", "loss"])
Evaluation.__doc__ = ("Result of :meth:`Trainer.evaluate`: accuracy in [0, 1] (NaN for float targets) and the "
                      "mean loss of the model's loss.")


def _targets(y, n, outputs, loss, name="y"):
    """Float targets as a contiguous float32 [n, outputs] array, or None when y holds labels
    (always for cross-entropy, which trains on class indices)."""
    y = np.asarray(y)
    if loss == "xent" or not np.issubdtype(y.dtype, np.floating):
        return None
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[0] != n or y.shape[1] != outputs:
        raise ArgumentError("%s has shape %s: float targets must be [n] or [n, %d] for %d samples"
                            % (name, y.shape, outputs, n))
    return np.ascontiguousarray(y, dtype=np.float32)


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


_CHOICE = r"(auto|vane|ane-sim|ane|m[1-4]|strict|cpu|fp16|fp32|adam|adamw|sgd|device)"


def _python_words(msg):
    """The library's messages name CLI flags (--batch-size 0, use --backend vane); from Python
    they name the keyword arguments (batch_size 0, use backend="vane")."""
    msg = re.sub(r"--([a-z][a-z0-9-]*) " + _CHOICE + r"\b",
                 lambda m: '%s="%s"' % (m.group(1).replace("-", "_"), m.group(2)), msg)
    return re.sub(r"--([a-z][a-z0-9-]*)", lambda m: m.group(1).replace("-", "_"), msg)


def _check(st, creating=False):
    """_lib.check with Python argument names in the message; a backend that cannot run here
    (when a trainer is made) is a BackendError, whatever the library's status."""
    try:
        _lib.check(st)
    except Error as e:
        msg = _python_words(e.message)
        cls = type(e)
        if creating and msg.startswith("backend ") and e.status == 5:
            cls = BackendError
        raise cls(msg, e.status, e.status_name) from None


class Trainer:
    """Trains a :class:`Model` (an :class:`MLP`, a preset such as ``"lenet5"``, any layer list or
    a converted torch module) with every step as MIL programs on a backend (compiled once for
    ``batch_size``): forward, loss and backward on the (virtual) ANE; with ``update="cpu"`` the
    optimizer runs on fp32 master weights on the CPU, with ``update="ane"`` inside the program.

    Settings and defaults are those of ``ane_trainer train`` (docs/training.md): ``optimizer``
    adam|adamw|sgd, ``lr`` (default 1e-3, sgd 1e-2), ``momentum``, ``weight_decay``, ``beta1``,
    ``beta2``, ``eps``, ``schedule`` constant|cosine|warmup|warmup-cosine, ``warmup_steps``,
    ``schedule_steps`` (the span of the cosine schedules; default: the epochs of each fit x
    batches), ``seed`` (shuffling), ``batch_size`` (128), ``backend`` auto|vane|ane|ane-sim,
    ``chip`` (m4), ``update`` cpu|ane, ``numerics`` fp16|fp32, ``program_form`` auto|device (auto:
    vane runs the plain form; device: the chip's device form, with ane-sim's bits), ``loss_scale``,
    ``loss_scale_growth``, ``max_memory`` (bytes; the plan's memory budget, default half of
    physical memory), ``verbose`` (default True: one progress line per epoch on
    ``sys.stderr``, as Keras prints), ``loss`` "xent" (softmax cross-entropy on integer
    labels), "mse" or "bce" (binary cross-entropy with logits) on float targets: given, it
    replaces the model's loss (``model`` then holds a new handle with the same weights).

    The trainer starts from a copy of ``model``'s weights and writes the trained weights back
    into ``model`` after every epoch. With the same seed and settings, training matches the
    CLI on a dataset with the same samples batch for batch (identical metrics on vane).
    ``Trainer(backend="ane")`` where the ANE cannot run raises :class:`BackendError`.
    Trainers pickle through their checkpoint bytes (weights, optimizer state, step, options).
    """

    def __init__(self, model, optimizer="adam", lr=None, backend="auto", update="cpu", seed=0,
                 batch_size=128, chip="m4", numerics="fp16", schedule="constant", warmup_steps=None,
                 momentum=None, weight_decay=None, beta1=None, beta2=None, eps=None,
                 loss_scale=None, loss_scale_growth=None, verbose=True, schedule_steps=None, max_memory=None,
                 loss=None, program_form="auto"):
        if not isinstance(model, Model):
            raise ArgumentError("Trainer needs an ane_trainer.Model (use ane_trainer.from_torch for a "
                                "torch module), got %s" % type(model).__name__)
        if loss is not None and loss != model.loss:
            if loss not in ("xent", "mse", "bce"):
                raise ArgumentError("loss %r: xent, mse or bce" % (loss,))
            base = ",".join(t for t in model.spec.split(",") if not t.startswith("loss:"))
            weights = model.state_dict()
            old = model._h
            model._h = _new_handle(base + ("" if loss == "xent" else ",loss:" + loss), 0)
            _L.anet_model_free(old)
            model.load_state_dict(weights)
        opts = _options(optimizer=optimizer, lr=lr, backend=backend, update=update, seed=seed,
                        batch_size=batch_size, chip=chip, numerics=numerics, schedule=schedule,
                        warmup_steps=warmup_steps, schedule_steps=schedule_steps, momentum=momentum,
                        weight_decay=weight_decay, beta1=beta1, beta2=beta2, eps=eps, loss_scale=loss_scale,
                        loss_scale_growth=loss_scale_growth, max_memory=max_memory, program_form=program_form,
                        quiet=1)
        h = ctypes.c_void_p()
        _check(_L.anet_trainer_new(model._h, _lib.enc(opts), ctypes.byref(h)), creating=True)
        self._guard = Guard(h, _L.anet_trainer_free, "Trainer")
        self.model = model
        self.verbose = bool(verbose)
        self.stop_training = False

    @classmethod
    def load(cls, checkpoint, **options):
        """A trainer continuing a checkpoint (written by the CLI or by :meth:`save`): model,
        weights, optimizer state, step, loss scale and options from the file; keyword options
        (``backend``, ``lr``, ``verbose``, ...) override. ``trainer.model`` is a new Model."""
        verbose = options.pop("verbose", True)
        opts = _options(quiet=1, **options)
        h = ctypes.c_void_p()
        _check(_L.anet_trainer_load(_lib.enc(checkpoint), _lib.enc(opts), ctypes.byref(h)), creating=True)
        t = cls.__new__(cls)
        t._guard = Guard(h, _L.anet_trainer_free, "Trainer")
        t.model = Model.from_spec(_lib.dec(_L.anet_trainer_model_spec(h)))
        t.verbose = bool(verbose)
        t.stop_training = False
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

    def __getstate__(self):
        """Pickling: the checkpoint bytes (the full training state) and ``verbose``."""
        fd, path = tempfile.mkstemp(suffix=".safetensors")
        os.close(fd)
        try:
            self.save(path)
            with open(path, "rb") as f:
                data = f.read()
        finally:
            os.unlink(path)
        return {"checkpoint": data, "verbose": self.verbose}

    def __setstate__(self, state):
        fd, path = tempfile.mkstemp(suffix=".safetensors")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(state["checkpoint"])
            t = Trainer.load(path, verbose=state.get("verbose", True))
        finally:
            os.unlink(path)
        self.__dict__.update(t.__dict__)
        t._guard = None  # the handle now belongs to self: t's collection must not close it

    def _use(self):
        """``with self._use() as h``: the C handle, kept alive (and to this thread) meanwhile."""
        g = getattr(self, "_guard", None)
        if g is None:
            raise ArgumentError("this Trainer is closed")
        return g.use()

    def _pull(self):
        with self._use() as h:
            _check(_L.anet_trainer_get_model(h, self.model._h))

    def set_weights(self, state_dict):
        """Loads weights (a :meth:`MLP.state_dict`) into ``model`` and the trainer; the
        optimizer state is kept."""
        self.model.load_state_dict(state_dict)
        with self._use() as h:
            _check(_L.anet_trainer_set_model(h, self.model._h))

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

    @property
    def lr(self):
        """The peak learning rate (the schedule's base). Settable: the next step uses it."""
        return float(self.stats["peak_lr"])

    @lr.setter
    def lr(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
            raise ArgumentError("lr must be a finite number >= 0, got %r" % (value,))
        with self._use() as h:
            _check(_L.anet_trainer_set_lr(h, float(value)))

    def _run_epoch(self, h, xs, code, ys, yt, n, feat):
        """One fit_epoch in a worker thread, so that Ctrl-C (KeyboardInterrupt, also a Jupyter
        interrupt) reaches this thread at once: it asks the library to stop after the current
        step. The caller holds h through its Guard (calls on it wait) until the worker ends.
        Returns (loss, interrupted)."""
        out = {}

        def work():
            loss = ctypes.c_double()
            try:
                if yt is None:
                    _check(_L.anet_trainer_fit_epoch(h, _arrays.vptr(xs), code, _arrays.ptr(ys, ctypes.c_int64),
                                                     n, feat, ctypes.byref(loss)))
                else:
                    _check(_L.anet_trainer_fit_epoch_targets(h, _arrays.vptr(xs), code, _arrays.ptr(yt, ctypes.c_float),
                                                             n, feat, ctypes.byref(loss)))
                out["loss"] = loss.value
            except BaseException as e:  # re-raised in the caller's thread
                out["error"] = e
            finally:
                finished.set()

        # An Event, not Thread.join: a join that KeyboardInterrupt broke may report the thread
        # ended while it still runs (seen with the CPython of this project's tests).
        finished = threading.Event()
        th = threading.Thread(target=work, name="ane_trainer.fit", daemon=True)
        th.start()
        interrupted = False
        while not finished.is_set():
            try:
                finished.wait()
            except KeyboardInterrupt:
                interrupted = True
                _L.anet_trainer_request_stop(h, 1)
        # A request that came after the epoch's last step is withdrawn, not left for the next fit.
        _L.anet_trainer_request_stop(h, 0)
        if "error" in out:
            raise out["error"]
        return out["loss"], interrupted

    def fit(self, x, y, epochs=1, batch_size=None, validation=None, callback=None, *, validation_data=None,
            validation_split=0.0, shuffle=True, callbacks=None, initial_epoch=None, verbose=None):
        """Trains on x (uint8 images [n, 28, 28] / [n, features], or float32 features
        [n, features]) and integer labels y [n] (cross-entropy) or float targets y [n] /
        [n, outputs] (mse, bce), Keras-style. Each epoch shuffles with (seed,
        epoch) as the CLI does (``shuffle=False``: the arrays' order) and drops the last partial
        batch.

        ``epochs``: as in Keras, the index of the last epoch; training runs
        ``epochs - initial_epoch`` epochs. ``initial_epoch`` defaults to 0 (so ``fit(epochs=3)``
        trains three more epochs); given, it must equal ``epochs_done`` and ``epochs`` is then
        the total, as the CLI's ``--epochs`` counts a resumed checkpoint's epochs.
        ``validation_data=(x_val, y_val)`` (earlier name ``validation``) or
        ``validation_split=F`` (the last F of x, y held out, before shuffling, as Keras does) add
        val_loss and val_accuracy. ``accuracy`` is measured on the training samples after each
        epoch's last step (the eval program over them).
        ``callbacks``: :class:`Callback` objects (EarlyStopping, ModelCheckpoint, ...);
        ``callback(epoch, record)`` (earlier API) is called after every epoch and stops
        training by returning False. ``batch_size``, when given, must equal the trainer's.
        ``verbose`` (default: the trainer's): one line per epoch through ``sys.stderr``.

        Ctrl-C stops after the current step (not the epoch's end): ``model`` and the trainer
        then hold the state after that step, :meth:`save` keeps it (the CLI's checkpoint,
        mid-epoch position included), and the next ``fit`` continues the epoch. fit then
        returns the History so far with ``interrupted`` True. Returns a :class:`History`."""
        with self._use() as h:
            return self._fit(h, x, y, epochs, batch_size, validation, callback, validation_data, validation_split,
                             shuffle, callbacks, initial_epoch, verbose)

    def _fit(self, h, x, y, epochs, batch_size, validation, callback, validation_data, validation_split, shuffle,
             callbacks, initial_epoch, verbose):
        for name, v, lo in (("epochs", epochs, 1), ("initial_epoch", initial_epoch, 0)):
            if (v is not None or name == "epochs") and (
                    not isinstance(v, numbers.Integral) or isinstance(v, bool) or not lo <= v <= _MAX_EPOCHS):
                raise ArgumentError("%s must be an integer in %d..%d, got %r" % (name, lo, _MAX_EPOCHS, v))
        done = self.epochs_done
        if initial_epoch is None:
            target = done + int(epochs)
            if target > _MAX_EPOCHS:
                raise ArgumentError("epochs %d after %d done: at most %d in all" % (epochs, done, _MAX_EPOCHS))
        else:
            if initial_epoch != done:
                raise ArgumentError("initial_epoch=%d but this trainer has completed %d epochs: pass "
                                    "initial_epoch=%d (epochs is then the total to reach)" % (initial_epoch, done, done))
            target = int(epochs)
        if batch_size is not None and batch_size != self.batch_size:
            raise ArgumentError("batch_size %r: this trainer's programs are compiled for batch %d; create a "
                                "Trainer(..., batch_size=%r)" % (batch_size, self.batch_size, batch_size))
        if validation is not None and validation_data is not None:
            raise ArgumentError("give validation_data or validation (its earlier name), not both")
        if validation_data is None:
            validation_data = validation
        if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) \
                or not 0.0 <= validation_split < 1.0:
            raise ArgumentError("validation_split must be a number in [0, 1), got %r" % (validation_split,))
        if validation_split and validation_data is not None:
            raise ArgumentError("give validation_data or validation_split, not both")
        cbs = list(callbacks or [])
        if not all(isinstance(c, Callback) for c in cbs):
            raise ArgumentError("callbacks must be ane_trainer.callbacks.Callback objects (EarlyStopping, "
                                "ModelCheckpoint, ...)")
        lam = None
        if callback is not None:
            lam = LambdaCallback(callback)
            cbs.append(lam)
        xs, code, n, feat = _arrays.samples(x)
        outputs = self.model.sizes[-1]
        yt = _targets(y, n, outputs, self.model.loss)
        ys = _arrays.labels(y, n) if yt is None else None
        val = None
        if validation_split:
            split = int(n * (1.0 - validation_split))
            if split == n:
                raise ArgumentError("validation_split=%r of %d samples holds out none" % (validation_split, n))
            yy = ys if yt is None else yt
            xs, vxs, yy, vys = xs[:split], xs[split:], yy[:split], yy[split:]
            if yt is None:
                ys = yy
            else:
                yt = yy
            n = split
            val = (vxs, code, vys, vxs.shape[0], feat)
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ArgumentError("validation_data must be a pair (x_val, y_val)")
            vx, vcode, vn, vfeat = _arrays.samples(validation_data[0], "x_val")
            vt = _targets(validation_data[1], vn, outputs, self.model.loss, "y_val")
            vy = _arrays.labels(validation_data[1], vn, "y_val") if vt is None else vt
            # The library checks these too, but only when it evaluates, after the first epoch:
            # a bad validation set fails here, before any training.
            sizes = self.model.sizes
            if vfeat != sizes[0]:
                raise ArgumentError("x_val has %d features per sample but model %s takes %d inputs"
                                    % (vfeat, self.model.spec, sizes[0]))
            if vt is None and (vy.min() < 0 or vy.max() >= sizes[-1]):
                raise ArgumentError("y_val holds labels outside 0..%d" % (sizes[-1] - 1))
            val = (vx, vcode, vy, vn, vfeat)
        history = History()
        if target <= done:
            return history
        _check(_L.anet_trainer_set_total_epochs(h, target))
        _check(_L.anet_trainer_set_shuffle(h, 1 if shuffle else 0))
        show = self.verbose if verbose is None else bool(verbose)
        progress = Progress(target - done, done + 1, show)
        self.stop_training = False
        for c in cbs:
            c.set_trainer(self)
            c.on_train_begin({})
        try:
            while self.epochs_done < target and not self.stop_training:
                if self._guard.closed:
                    if self._guard.closed_by == threading.get_ident():
                        break  # closed by a callback: a request to stop
                    raise ArgumentError("this Trainer was closed during fit (after %d epochs)" % len(history))
                epoch = self.epochs_done + 1
                for c in cbs:
                    c.on_epoch_begin(epoch, {})
                t0 = time.time()
                loss, interrupted = self._run_epoch(h, xs, code, ys, yt, n, feat)
                self._pull()
                if self.epochs_done < epoch:  # stopped mid-epoch
                    history.interrupted = True
                    progress.note("fit interrupted after step %d (epoch %d unfinished): the trainer holds that "
                                  "state; trainer.save(path) keeps it and fit() continues the epoch"
                                  % (int(self.stats["step"]), epoch))
                    break
                rec = dict(self.stats["last_epoch"])
                for k in ("event", "test_acc", "update", "chip", "numerics"):
                    rec.pop(k, None)
                logs = {"loss": rec["train_loss"], "accuracy": self._evaluate(xs, code, ys if yt is None else yt, n, feat).accuracy}
                if val is not None:
                    ev = self._evaluate(*val)
                    rec["val_acc"], rec["val_loss"] = ev.accuracy, ev.loss
                    logs["val_loss"], logs["val_accuracy"] = ev.loss, ev.accuracy
                logs["lr"] = rec["lr"]
                rec.update(logs)
                history._append(epoch, logs, rec)
                progress.epoch(epoch, target, logs, time.time() - t0)
                if lam is not None:
                    lam.record = rec
                for c in cbs:
                    c.on_epoch_end(epoch, logs)
                if interrupted:
                    history.interrupted = True
                    progress.note("fit interrupted at the end of epoch %d" % epoch)
                    break
        finally:
            progress.close()
        for c in cbs:
            c.on_train_end({})
        return history

    def _evaluate(self, xs, code, ys, n, feat):
        acc, loss = ctypes.c_double(), ctypes.c_double()
        with self._use() as h:
            if ys.dtype == np.float32:
                _check(_L.anet_trainer_evaluate_targets(h, _arrays.vptr(xs), code, _arrays.ptr(ys, ctypes.c_float),
                                                            n, feat, ctypes.byref(loss)))
                return Evaluation(float("nan"), loss.value)
            _check(_L.anet_trainer_evaluate(h, _arrays.vptr(xs), code, _arrays.ptr(ys, ctypes.c_int64), n, feat,
                                                ctypes.byref(acc), ctypes.byref(loss)))
        return Evaluation(acc.value, loss.value)

    def evaluate(self, x, y):
        """Accuracy (argmax of the logits) and the mean loss on (x, y) (labels, or float targets
        for mse/bce: accuracy is then NaN), computed by the eval program on the current
        weights. Returns an :class:`Evaluation`."""
        xs, code, n, feat = _arrays.samples(x)
        yt = _targets(y, n, self.model.sizes[-1], self.model.loss)
        return self._evaluate(xs, code, _arrays.labels(y, n) if yt is None else yt, n, feat)

    def predict(self, x):
        """Logits (float32) of the eval program: [n, classes] for a batch x, [classes] for a
        single sample (a [features] vector or a [rows, cols] image)."""
        x, one = _arrays.one_sample(x, self.model.sizes[0])
        xs, code, n, feat = _arrays.samples(x)
        out = np.empty((n, self.model.sizes[-1]), dtype=np.float32)
        with self._use() as h:
            _check(_L.anet_trainer_predict(h, _arrays.vptr(xs), code, n, feat, _arrays.ptr(out, ctypes.c_float)))
        return out[0] if one else out

    def save(self, path):
        """Writes the full training state as a safetensors checkpoint (the CLI's format;
        ``ane_trainer eval PATH --dataset ...`` reads it). The write is atomic."""
        with self._use() as h:
            _check(_L.anet_trainer_save(h, _lib.enc(path)))

    def restore(self, path):
        """Continues from a checkpoint of the same model, update mode, optimizer and batch
        size (else :class:`ArgumentError`; the trainer is then unchanged)."""
        with self._use() as h:
            _check(_L.anet_trainer_restore(h, _lib.enc(path)))
            self._pull()

    def __repr__(self):
        g = getattr(self, "_guard", None)
        if g is None or g.closed:
            return "Trainer(closed)"
        return "Trainer(%s, backend=%r, epochs_done=%d)" % (self.model.spec, self.backend, self.epochs_done)
