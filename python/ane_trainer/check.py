"""The static ANE compatibility check of Core ML models (``ane_trainer check``)."""
from . import _lib

_L = _lib.lib


class Report:
    """The report of :func:`check`, from the library's JSON (docs/check.md).

    ``layers``: one dict per layer (index, name, type, verdict "ane"|"cpu"|"unknown", rule,
    detail, reason, source, inputs, outputs); ``verdicts``: the layers' verdicts in order;
    ``segments``: runs of consecutive layers likely on the ANE; ``notes``; ``summary``;
    ``status``: "full", "partial" or "none"; ``exit_status``: 0, 1, 2 as the CLI exits;
    ``json``: the whole report as a dict."""

    def __init__(self, data):
        self.json = data
        self.path = data.get("path")
        self.format = data.get("format")
        self.kind = data.get("kind")
        self.chip = data.get("chip")
        self.layers = data.get("layers", [])
        self.verdicts = [layer["verdict"] for layer in self.layers]
        self.segments = data.get("segments", [])
        self.notes = data.get("notes", [])
        self.summary = data.get("summary", {})
        self.status = self.summary.get("compatibility")
        self.exit_status = self.summary.get("exit_status")

    def __repr__(self):
        return "Report(%s: %s, %d layers, %d segments)" % (self.path, self.status, len(self.layers),
                                                           len(self.segments))


def check(path, chip=None):
    """Checks a Core ML model (.mlmodel, .mlpackage, .mlmodelc with model.mil) or MIL text for
    the ANE with the chip profile ``chip`` (m1, m2, m3, m4 or strict; None: as the CLI without
    --chip — a checkpoint's recorded chip, m4 for a model spec, else strict). Returns a
    :class:`Report`; an unreadable or malformed file raises :class:`ane_trainer.Error`."""
    return Report(_lib.take_json(_L.anet_check_json, _lib.enc(path), _lib.enc(chip)))
