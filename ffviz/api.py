"""Runs in a notebook: open a run folder and get the same Plotly figures the app's pages draw.

    import ffviz
    run = ffviz.open_run("assets/runs/20261126-182450-learnable-classroom-learnable-default-lambdas")
    run.figure("assignments", layer=4, epoch=10)          # a plotly Figure: .show(), .write_html(), .write_image()
    run.figure("contributions")                           # every name: ffviz.api.FIGURES (or run.figure_names)
    Path("w4.gif").write_bytes(run.gif(layer=4))          # W of layer 4 over the epochs, for slides

``epoch`` defaults to the last recorded epoch and ``layer`` to the one the page starts on; other keywords go to the
figure (``channel=3`` for "channel", ``image=0`` for "image_goodness", ``log=False`` for "regularizers"). Each name
calls the builder in ffviz/figures with the arguments its page passes, so a notebook's figure is the page's figure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ffviz import figures as F
from ffviz.figures.animation import assignment_gif
from ffviz.records import Snapshot
from ffviz.store.runs import RunReader
from ffviz.store.runstate import run_state


class Run(RunReader):
    """A run folder for a notebook: the reader the app uses (config, meta, records, ``refresh()``, the lazy per-layer
    W history), plus its state, its figures and its GIF."""

    def __repr__(self) -> str:
        cfg = self.config
        last = self.epochs[-1].epoch if self.epochs else 0
        return (f"<ffviz run {self.run_id}: {cfg.mode} {cfg.preset} on {cfg.dataset}, epoch {last}/{cfg.epochs}, "
                f"{self.status}>")

    @property
    def status(self) -> str:
        return run_state(self.dir, self.meta)

    @property
    def class_names(self) -> list[str]:
        k = len(self.epochs[-1].channels_per_class[0]) if self.epochs else 10
        return list(self.meta.get("class_names") or [str(i) for i in range(k)])

    @property
    def num_layers(self) -> int:
        return len(self.epochs[0].val_acc) if self.epochs else 0

    def snapshot(self, epoch: int | None = None) -> Snapshot:
        """The Snapshot of this epoch (the last recorded one by default)."""
        return super().snapshot(self._epoch(epoch))

    @property
    def figure_names(self) -> list[str]:
        return list(FIGURES)

    def figure(self, name: str, *, layer: int | None = None, epoch: int | None = None, **options: Any) -> go.Figure:
        """The figure a page draws under this name, at this layer and epoch."""
        try:
            build = FIGURES[name]
        except KeyError:
            raise ValueError(f"unknown figure {name!r}; valid figures: {', '.join(FIGURES)}") from None
        if not self.epochs:
            raise ValueError(f"{self.dir} has no epoch recorded yet")
        return build(self, self._layer(layer), self._epoch(epoch), options)

    def gif(self, layer: int | None = None, *, fps: float = 2.0) -> bytes:
        """The evolution of a layer's W over every recorded epoch, as an animated GIF (bytes)."""
        layer = self._layer(layer)
        return assignment_gif(self.w_history(layer), self.class_names, layer=layer, fps=fps)

    def _epoch(self, epoch: int | None) -> int:
        recorded = [e.epoch for e in self.epochs]
        if epoch is None:
            return recorded[-1]
        if epoch not in recorded:
            raise ValueError(f"epoch={epoch} is not recorded in this run; recorded epochs: "
                             f"{recorded[0]}..{recorded[-1]}")
        return int(epoch)

    def _layer(self, layer: int | None) -> int:
        n = self.num_layers
        if layer is None:
            return n // 2  # where the Assignments, Regularizers and Goodness pages start
        if not 0 <= layer < n:
            raise ValueError(f"layer={layer} is out of range; this run has layers 0..{n - 1}")
        return int(layer)


def open_run(path: Path | str) -> Run:
    """A run folder (the app's, the CLI's, a shipped or an unpacked uploaded one) for figures in a notebook."""
    return Run(path)


def _assignments(run: Run, layer: int, epoch: int, o: dict[str, Any]) -> go.Figure:
    w_last = run.snapshot().w[layer]
    order = {"this epoch": None, "last epoch": F.channel_order(w_last),
             "channel number": np.arange(w_last.shape[0])}[o.get("order", "this epoch")]
    return F.assignment_heatmap(run.snapshot(epoch).w[layer], run.class_names, order=order, layer=layer, epoch=epoch,
                                selected=o.get("channel"), zmax=F.color_cap(w_last))


def _channel(run: Run, layer: int, epoch: int, o: dict[str, Any]) -> go.Figure:
    channel = int(o.get("channel", 0))
    history = {e: w[channel] for e, w in run.w_history(layer).items()}
    return F.channel_history_figure(history, run.class_names, channel=channel, layer=layer, current_epoch=epoch,
                                    height=320)


def _image(run: Run, layer: int, epoch: int, o: dict[str, Any]) -> go.Figure:
    record = next(e for e in run.epochs if e.epoch == epoch)
    return F.image_goodness_figure(run.snapshot(epoch), int(o.get("image", 0)), record.alpha, run.class_names)


def _confusion(run: Run, layer: int, epoch: int, o: dict[str, Any]) -> go.Figure:
    snap = run.snapshot(epoch)
    return F.confusion_figure(snap.val_y, snap.val_pred, run.class_names, epoch=epoch, height=420)


# name -> builder(run, layer, epoch, options): the figures of the Train, Assignments, Regularizers, Goodness and
# Layer contributions pages, in that order.
FIGURES: dict[str, Callable[[Run, int, int, dict[str, Any]], go.Figure]] = {
    "loss": lambda r, layer, epoch, o: F.batch_loss_figure(r.batches, r.events),
    "layer_accuracy": lambda r, layer, epoch, o: F.layer_accuracy_figure(r.epochs, r.events),
    "assignments": _assignments,
    "assignment_panel": lambda r, layer, epoch, o: F.assignment_panel_figure(r.epochs, layer, r.class_names,
                                                                             current_epoch=epoch),
    "channel": _channel,
    "regularizers": lambda r, layer, epoch, o: F.regularizer_figure(r.epochs, layer, r.events,
                                                                    log=o.get("log", True), current_epoch=epoch),
    "gram": lambda r, layer, epoch, o: F.gram_figure(r.snapshot(epoch).w[layer], r.class_names, layer=layer,
                                                     epoch=epoch),
    "true_vs_wrong": lambda r, layer, epoch, o: F.true_vs_wrong_figure(r.epochs, highlight=layer,
                                                                       current_epoch=epoch),
    "goodness_distribution": lambda r, layer, epoch, o: F.goodness_distribution_figure(r.snapshot(epoch)),
    "image_goodness": _image,
    "contributions": lambda r, layer, epoch, o: F.contributions_over_epochs_figure(
        r.epochs, test=r.test if r.status == "finished" else None, current_epoch=epoch, height=760),
    "layer_accuracy_alpha": lambda r, layer, epoch, o: F.layer_accuracy_alpha_figure(
        next(e for e in r.epochs if e.epoch == epoch), height=360),
    "confusion": _confusion,
    "pca": lambda r, layer, epoch, o: F.pca_figure(r.snapshot(epoch), layer, r.class_names),
}
