"""Progress of :meth:`Trainer.fit`: one line per epoch written through ``sys.stderr`` (looked
up at each write, so Jupyter and ``contextlib.redirect_stderr`` capture it), or a tqdm bar
over the epochs when tqdm is importable (each epoch's line printed above it)."""
import sys


def _fmt(v):
    if isinstance(v, float):
        return "%.4g" % v
    return str(v)


def epoch_line(epoch, epochs, logs, seconds):
    """``epoch 3/10 - 1.2s - loss 0.2931 - accuracy 0.9171 - val_loss ... - lr 0.001``."""
    parts = ["epoch %d/%d" % (epoch, epochs), "%.1fs" % seconds]
    parts += ["%s %s" % (k, _fmt(v)) for k, v in logs.items()]
    return " - ".join(parts)


class Progress:
    def __init__(self, total, first_epoch, enabled):
        self.enabled = enabled
        self.bar = None
        self.tqdm = None
        if not enabled:
            return
        try:
            import tqdm
        except ImportError:
            return
        self.tqdm = tqdm
        self.bar = tqdm.tqdm(total=total, initial=0, file=sys.stderr, unit="epoch", desc="fit",
                             leave=False, dynamic_ncols=True)

    def epoch(self, epoch, epochs, logs, seconds):
        if not self.enabled:
            return
        line = epoch_line(epoch, epochs, logs, seconds)
        if self.bar is not None:
            self.tqdm.tqdm.write(line, file=sys.stderr)
            self.bar.update(1)
        else:
            print(line, file=sys.stderr, flush=True)

    def note(self, text):
        if not self.enabled:
            return
        if self.bar is not None:
            self.tqdm.tqdm.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
