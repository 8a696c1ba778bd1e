"""Layer contributions: the weights α that the ensemble gives each layer, and what the ensemble gets right.

After each epoch α = softmax(−L/τ) over the layers' losses: a layer with a lower loss counts more in the prediction
argmax_k Σ_l α_l g_l,k. These figures set α beside each layer's own accuracy, compare the ensemble with the plain
sum, the last layer and the best single layer, and open up the ensemble's errors and one layer's feature space.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ffviz.figures.style import (
    ENSEMBLE_COLOR,
    class_colors,
    colorscale,
    empty_figure,
    epoch_axis,
    epoch_marker,
    figure,
    layer_colors,
    layer_name,
    stack,
)
from ffviz.records import EpochRecord, Snapshot, TestRecord


def alpha_figure(epochs: Sequence[EpochRecord], *, current_epoch: int | None = None,
                 height: int = 380) -> go.Figure:
    """α of every layer over the epochs, stacked to 1: who gets a say in the prediction."""
    title = "Layer contributions α (stacked, sum 1)"
    if not epochs:
        return empty_figure("No epoch yet", height=height, title=title)
    n = len(epochs[0].alpha)
    colors = layer_colors(n)
    x = [e.epoch for e in epochs]
    traces = [{"type": "scatter", "mode": "lines", "x": x, "y": [e.alpha[i] for e in epochs], "name": layer_name(i),
               "stackgroup": "alpha", "line": {"color": colors[i], "width": 0.5}, "fillcolor": colors[i],
               "hovertemplate": f"{layer_name(i)}<br>epoch %{{x}}<br>α = %{{y:.3f}}<extra></extra>"}
              for i in range(n)]
    return figure(traces, {"title": title, "height": height, "xaxis": epoch_axis(x[-1]),
                           "yaxis": {"title": {"text": "α"}, "range": [0, 1]},
                           "shapes": epoch_marker(current_epoch)})


def layer_accuracy_alpha_figure(record: EpochRecord, *, height: int = 380) -> go.Figure:
    """At one epoch: each layer's own validation accuracy (bars) beside its weight α in the ensemble (diamonds)."""
    n = len(record.val_acc)
    colors = layer_colors(n)
    names = [layer_name(i) for i in range(n)]
    traces = [
        {"type": "bar", "x": names, "y": record.val_acc, "name": "accuracy of the layer alone",
         "marker": {"color": colors}, "hovertemplate": "%{x}<br>accuracy %{y:.1f}%<extra></extra>"},
        {"type": "scatter", "mode": "lines+markers", "x": names, "y": record.alpha, "name": "α (right axis)",
         "yaxis": "y2", "line": {"color": ENSEMBLE_COLOR, "width": 2},
         "marker": {"symbol": "diamond", "size": 12, "color": ENSEMBLE_COLOR},
         "hovertemplate": "%{x}<br>α = %{y:.3f}<extra></extra>"},
    ]
    return figure(traces, {
        "title": f"Each layer's accuracy and its α, epoch {record.epoch}", "height": height,
        "yaxis": {"title": {"text": "validation accuracy (%)"}, "range": [0, 101]},
        "yaxis2": {"title": {"text": "α"}, "overlaying": "y", "side": "right", "rangemode": "tozero",
                   "tickformat": ".2f",
                   "showgrid": False},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        "margin": {"r": 60}})


ENSEMBLES = (("acc_alpha", "α-weighted ensemble", ENSEMBLE_COLOR, 4.0),
             ("acc_sum", "plain sum of all layers", "#1F77B4", 2.5),
             ("acc_last", "last layer alone", "#E4572E", 2.5),
             ("acc_best_layer", "best single layer", "#2CA02C", 2.5))


def ensemble_accuracy_figure(epochs: Sequence[EpochRecord], *, test: TestRecord | None = None,
                             current_epoch: int | None = None, height: int = 380) -> go.Figure:
    """Validation accuracy of four ways to read the network: α-weighted, plain sum, last layer, best layer."""
    title = "Four ways to read the network"
    if not epochs:
        return empty_figure("No epoch yet", height=height, title=title)
    x = [e.epoch for e in epochs]
    traces: list[dict[str, Any]] = []
    for key, name, color, width in ENSEMBLES:
        traces.append({"type": "scatter", "mode": "lines+markers", "x": x, "y": [getattr(e, key) for e in epochs],
                       "name": name, "line": {"color": color, "width": width}, "marker": {"size": 5},
                       "hovertemplate": f"{name}<br>epoch %{{x}}<br>%{{y:.1f}}%<extra></extra>"})
        if test is not None:
            traces.append({"type": "scatter", "mode": "markers", "x": [test.epoch], "y": [getattr(test, key)],
                           "name": f"{name}, test", "showlegend": False,
                           "marker": {"symbol": "star", "size": 15, "color": color, "line": {"width": 1}},
                           "hovertemplate": f"{name}, TEST split<br>%{{y:.1f}}%<extra></extra>"})
    return figure(traces, {"title": title, "height": height, "xaxis": epoch_axis(x[-1]),
                           "yaxis": {"title": {"text": "validation accuracy (%)"}, "range": [0, 101]},
                           "shapes": epoch_marker(current_epoch)})


# numpy, not scikit-learn: a page that imported sklearn for these pulled it and scipy into the server (about a hundred
# MiB of resident memory and seconds of CPU on the first visit), each first visit showing as one wave's growth.
def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(K, K) counts: rows the true class, columns the prediction; labels outside 0..K-1 are left out (as
    sklearn.metrics.confusion_matrix with labels=range(K))."""
    t, q = np.asarray(y_true).astype(np.int64).ravel(), np.asarray(y_pred).astype(np.int64).ravel()
    keep = (t >= 0) & (t < k) & (q >= 0) & (q < k)
    return np.bincount(t[keep] * k + q[keep], minlength=k * k).reshape(k, k)


def principal_axes(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of x projected on their n main axes, and each axis's share of the variance (as sklearn's PCA, its
    signs fixed the same way: each axis's largest coefficient positive)."""
    centred = np.asarray(x, dtype=np.float64) - np.mean(x, axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    vt = vt * np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])[:, None]
    var = s ** 2
    return centred @ vt[:n].T, var[:n] / max(var.sum(), 1e-300)


def confusion_figure(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], *,
                     epoch: int | None = None, height: int = 460) -> go.Figure:
    """The ensemble's confusion matrix on the validation split: rows the true class, columns the prediction."""
    k = len(class_names)
    if not len(y_true):  # an imported log keeps no predictions
        return empty_figure("This run recorded no predictions", height=height, title="Confusion matrix")
    cm = confusion_counts(y_true, y_pred, k)  # (K, K) counts
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    names = [str(n) for n in class_names]
    trace: dict[str, Any] = {"type": "heatmap", "z": share, "x": names, "y": names, "zmin": 0, "zmax": 1,
                             "colorscale": colorscale("Blues"), "customdata": cm, "xgap": 1, "ygap": 1,
                             "colorbar": {"title": {"text": "share", "side": "top"}, "thickness": 12},
                             "hovertemplate": "true %{y}, predicted %{x}<br>%{customdata} images "
                                              "(%{z:.0%} of the class)<extra></extra>"}
    if k <= 20:
        trace["text"] = cm
        trace["texttemplate"] = "%{text}"
    acc = 100 * np.trace(cm) / max(cm.sum(), 1)
    when = f" at epoch {epoch}" if epoch is not None else ""
    title = f"Confusion matrix of the vote{when}<br><sup>{acc:.1f}% right on validation</sup>"
    return figure([trace], {"title": title, "height": height,
                            "xaxis": {"title": {"text": "predicted class"}, "type": "category"},
                            "yaxis": {"title": {"text": "true class"}, "type": "category",
                                      "autorange": "reversed"}})


def pca_figure(snapshot: Snapshot, layer: int, class_names: Sequence[str], *, height: int = 460) -> go.Figure:
    """One layer's pooled channel goodness p (one vector per probe image) projected on its two main axes."""
    title = f"PCA of {layer_name(layer)}'s goodness vectors, epoch {snapshot.epoch}"
    p = np.asarray(snapshot.probe_p[layer], dtype=np.float64)
    y = np.asarray(snapshot.probe_y)
    if p.ndim != 2 or len(p) < 3 or p.shape[1] < 2 or not np.isfinite(p).all() or np.allclose(p.std(0), 0):
        return empty_figure("Not enough variation to project yet", height=height, title=title)
    z, ev = principal_axes(p, 2)  # (N, 2), each axis's share of the variance
    colors = class_colors(len(class_names))
    traces = []
    for k, name in enumerate(class_names):
        m = y == k
        if not m.any():
            continue
        traces.append({"type": "scatter", "mode": "markers", "x": z[m, 0], "y": z[m, 1], "name": str(name),
                       "marker": {"color": colors[k], "size": 9, "line": {"width": 0.5, "color": "#fff"}},
                       "customdata": np.flatnonzero(m),
                       "hovertemplate": f"class {name}<br>probe image %{{customdata}}<extra></extra>"})
    return figure(traces, {"title": title, "height": height,
                           "xaxis": {"title": {"text": f"PC 1 ({100 * ev[0]:.0f}% of variance)"}, "zeroline": False},
                           "yaxis": {"title": {"text": f"PC 2 ({100 * ev[1]:.0f}% of variance)"}, "zeroline": False},
                           "legend": {"title": {"text": "class"}}})


def contributions_over_epochs_figure(epochs: Sequence[EpochRecord], *, test: TestRecord | None = None,
                                     current_epoch: int | None = None, height: int = 700) -> go.Figure:
    """α of every layer over the epochs, above the four readings of the network: who gets a say, and what it buys."""
    return stack([alpha_figure(epochs, current_epoch=current_epoch),
                  ensemble_accuracy_figure(epochs, test=test, current_epoch=current_epoch)], height=height, gap=0.13)
