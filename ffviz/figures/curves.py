"""Training curves for the Train page: each layer's loss by batch, each layer's accuracy and the ensemble's by epoch.

A previous run (after "Retrain") is drawn dashed and faint on the same axes, so the two runs compare at a glance;
live hyperparameter changes are dashed vertical lines with a flag saying what changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ffviz.figures.style import (
    ENSEMBLE_COLOR,
    change_markers,
    empty_figure,
    epoch_axis,
    figure,
    layer_colors,
    layer_name,
)
from ffviz.records import BatchRecord, EpochRecord, EventRecord

# Legend entries are the layers' numbers under a "layer" title: a legend of "layer 0" ... "layer 8" took seven rows
# of a half-width chart; numbers fit in one or two. Hover names each layer in full.
# Entries of one width (the text's, beside a 30 px symbol): 17 layers take three rows, not nine.
LAYER_LEGEND = {"title": {"text": "layer"}, "tracegroupgap": 0, "entrywidth": 34, "entrywidthmode": "pixels"}
MAX_POINTS = 600  # per line: about one per pixel, few enough to send and draw every second


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average along axis 0 (TensorBoard's smoothing); weight 0 returns the values."""
    if weight <= 0 or len(values) == 0:
        return values
    out = np.empty_like(values, dtype=float)
    acc = values[0].astype(float)
    for i, v in enumerate(values):
        acc = weight * acc + (1 - weight) * v
        out[i] = acc
    return out


def _thin(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most max_points rows, evenly spaced, always including the last one."""
    if len(x) <= max_points:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, max_points).round().astype(int))
    return x[idx], y[idx]


def _batch_arrays(batches: Sequence[BatchRecord]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = np.fromiter((b.step for b in batches), dtype=float, count=len(batches))
    epochs = np.fromiter((b.epoch for b in batches), dtype=float, count=len(batches))
    ce = np.asarray([b.ce for b in batches], dtype=float)  # (N, L)
    return steps, epochs, ce


def batch_loss_figure(batches: Sequence[BatchRecord], events: Sequence[EventRecord] = (), *,
                      previous: Sequence[BatchRecord] | None = None, smoothing: float = 0.6,
                      highlight: int | None = None, height: int = 440) -> go.Figure:
    """Each layer's cross-entropy on the training batches (smoothed), by step; live changes marked."""
    title = "Loss of each layer"
    if not batches and not previous:
        return empty_figure("Waiting for the first training batch…", height=height, title=title)
    num_layers = len((batches or previous)[0].ce)
    colors = layer_colors(num_layers)
    traces: list[dict[str, Any]] = []
    if previous:
        p_steps, _, p_ce = _batch_arrays(previous)
        p_ce = smooth(p_ce, smoothing)
        for i in range(min(num_layers, p_ce.shape[1])):
            x, y = _thin(p_steps, p_ce[:, i], MAX_POINTS)
            traces.append({"type": "scatter", "mode": "lines", "x": x, "y": y, "name": "before",
                           "legendgroup": "previous", "showlegend": i == 0, "opacity": 0.45,
                           "line": {"color": colors[i], "width": 1.5, "dash": "dash"},
                           "hovertemplate": f"previous run, {layer_name(i)}<br>step %{{x}}<br>CE %{{y:.3f}}"
                                            "<extra></extra>"})
    steps, _, ce = _batch_arrays(batches) if batches else (np.zeros(0), None, np.zeros((0, num_layers)))
    ce_s = smooth(ce, smoothing)
    for i in range(num_layers if batches else 0):
        x, y = _thin(steps, ce_s[:, i], MAX_POINTS)
        width, opacity = (2.5, 1.0) if highlight is None or highlight == i else (1.2, 0.3)
        traces.append({"type": "scatter", "mode": "lines", "x": x, "y": y, "name": str(i), "opacity": opacity,
                       "line": {"color": colors[i], "width": width},
                       "hovertemplate": f"{layer_name(i)}<br>step %{{x}}<br>CE %{{y:.3f}}<extra></extra>"})
    marks = change_markers(events, axis="step")
    # One hover box names every layer's value at the step: on a projector the colours alone do not tell 9 or 17
    # layers apart. The legend sits under the plot (ffviz/figures/style.py).
    return figure(traces, {"title": title, "height": height, "xaxis": {"title": {"text": "training step (batch)"}},
                           "yaxis": {"title": {"text": "training cross-entropy"}}, "hovermode": "x unified",
                           "legend": LAYER_LEGEND, **marks})


def layer_accuracy_figure(epochs: Sequence[EpochRecord], events: Sequence[EventRecord] = (), *,
                          previous: Sequence[EpochRecord] | None = None, split: str = "val",
                          height: int = 440) -> go.Figure:
    """Validation accuracy of every layer on its own, and of the alpha-weighted ensemble (thick, black)."""
    title = "Accuracy of each layer and of the vote"
    if not epochs and not previous:
        return empty_figure("Waiting for the first evaluation…", height=height, title=title)
    key = "val_acc" if split == "val" else "train_acc"
    num_layers = len((epochs or previous)[0].val_acc)
    colors = layer_colors(num_layers)
    traces: list[dict[str, Any]] = []
    if previous:
        px_ = [e.epoch for e in previous]
        traces.append({"type": "scatter", "mode": "lines", "x": px_, "y": [e.acc_alpha for e in previous],
                       "name": "before", "legendgroup": "previous",
                       "line": {"color": ENSEMBLE_COLOR, "width": 3, "dash": "dash"}, "opacity": 0.55,
                       "hovertemplate": "previous run, ensemble<br>epoch %{x}<br>%{y:.1f}%<extra></extra>"})
        for i in range(min(num_layers, len(previous[0].val_acc))):
            ys = [None if getattr(e, key) is None else getattr(e, key)[i] for e in previous]
            traces.append({"type": "scatter", "mode": "lines", "x": px_, "y": ys, "legendgroup": "previous",
                           "name": f"previous run, {layer_name(i)}", "showlegend": False, "opacity": 0.35,
                           "line": {"color": colors[i], "width": 1.2, "dash": "dash"}, "hoverinfo": "skip"})
    x = [e.epoch for e in epochs]
    for i in range(num_layers if epochs else 0):
        ys = [None if getattr(e, key) is None else getattr(e, key)[i] for e in epochs]
        traces.append({"type": "scatter", "mode": "lines+markers", "x": x, "y": ys, "name": str(i),
                       "line": {"color": colors[i], "width": 2}, "marker": {"size": 5},
                       "hovertemplate": f"{layer_name(i)}<br>epoch %{{x}}<br>%{{y:.1f}}%<extra></extra>"})
    if epochs:
        traces.append({"type": "scatter", "mode": "lines+markers", "x": x, "y": [e.acc_alpha for e in epochs],
                       "name": "vote", "line": {"color": ENSEMBLE_COLOR, "width": 4},
                       "marker": {"size": 8},
                       "hovertemplate": "α-weighted ensemble<br>epoch %{x}<br>%{y:.1f}%<extra></extra>"})
    marks = change_markers(events, axis="epoch", epochs=epochs)
    return figure(traces, {"title": title, "height": height,
                           "xaxis": epoch_axis((epochs or previous)[-1].epoch),
                           "yaxis": {"title": {"text": "validation accuracy (%)"}, "range": [0, 101]},
                           "hovermode": "x unified", "legend": LAYER_LEGEND, **marks})

