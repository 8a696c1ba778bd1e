"""Goodness: what every layer says about every class. A layer's class goodness g_k = Σ_c p_c W_ck is its logit.

A layer has learnt when the goodness of the true class pulls away from the strongest wrong class. These figures
show that gap over training, its spread over the probe images at one epoch, and one image's goodness at every layer
next to what the α-weighted ensemble predicts.
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
    highlight_style,
    layer_colors,
    layer_name,
)
from ffviz.records import EpochRecord, Snapshot

TRUE_COLOR, WRONG_COLOR = "#2CA02C", "#D62728"


def true_vs_wrong_figure(epochs: Sequence[EpochRecord], *, highlight: int | None = None,
                         current_epoch: int | None = None, height: int = 400) -> go.Figure:
    """Per layer, over epochs: mean goodness of the true class (solid) and of the strongest wrong class (dotted)."""
    title = "True class (solid) vs strongest wrong class (dotted)"
    if not epochs:
        return empty_figure("No epoch yet", height=height, title=title)
    n = len(epochs[0].good_true)
    colors = layer_colors(n)
    x = [e.epoch for e in epochs]
    traces: list[dict[str, Any]] = []
    for i in range(n):
        st = highlight_style(i, highlight)
        common = {"type": "scatter", "mode": "lines", "x": x, "legendgroup": f"l{i}", "opacity": st["opacity"]}
        traces.append({**common, "y": [e.good_true[i] for e in epochs], "name": layer_name(i),
                       "line": {"color": colors[i], "width": st["width"]},
                       "hovertemplate": f"{layer_name(i)}, true class<br>epoch %{{x}}<br>%{{y:.3f}}<extra></extra>"})
        traces.append({**common, "y": [e.good_wrong[i] for e in epochs], "name": f"{layer_name(i)} wrong",
                       "showlegend": False, "line": {"color": colors[i], "width": st["width"], "dash": "dot"},
                       "hovertemplate": f"{layer_name(i)}, strongest wrong class<br>epoch %{{x}}<br>%{{y:.3f}}"
                                        "<extra></extra>"})
    return figure(traces, {"title": title, "height": height, "xaxis": epoch_axis(x[-1]),
                           "yaxis": {"title": {"text": "mean class goodness (validation)"}},
                           "shapes": epoch_marker(current_epoch)})


def true_and_wrong(g: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) goodness, (N,) labels -> goodness of the true class and of the strongest wrong class, each (N,)."""
    g = np.asarray(g, dtype=float)
    idx = np.arange(len(y))
    true = g[idx, y]
    masked = g.copy()
    masked[idx, y] = -np.inf
    return true, masked.max(1)


def goodness_distribution_figure(snapshot: Snapshot, *, height: int = 420) -> go.Figure:
    """At one epoch, per layer: the spread over the probe images of the true class's goodness and of the strongest
    wrong class's. Boxes that separate mean a layer that tells the classes apart."""
    title = f"Class goodness per layer, epoch {snapshot.epoch}"
    y = np.asarray(snapshot.probe_y)
    if len(y) == 0:
        return empty_figure("This run stored no probe images", height=height, title=title)
    xs, trues, wrongs = [], [], []
    for i, g in enumerate(snapshot.probe_g):
        t, w = true_and_wrong(g, y)
        xs.append(np.full(len(y), layer_name(i), dtype=object))
        trues.append(t)
        wrongs.append(w)
    x = np.concatenate(xs)
    traces = [
        {"type": "box", "x": x, "y": np.concatenate(trues), "name": "true class", "marker": {"color": TRUE_COLOR},
         "boxpoints": False},
        {"type": "box", "x": x, "y": np.concatenate(wrongs), "name": "strongest wrong class",
         "marker": {"color": WRONG_COLOR}, "boxpoints": False},
    ]
    return figure(traces, {"title": title, "height": height, "boxmode": "group",
                           "xaxis": {"title": {"text": ""}}, "yaxis": {"title": {"text": "class goodness"}},
                           "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"}})


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ensemble_scores(snapshot: Snapshot, index: int, alpha: Sequence[float]) -> np.ndarray:
    """(K,) the α-weighted sum of every layer's class goodness for probe image ``index`` (the method's logits)."""
    g = np.stack([np.asarray(gl[index], dtype=float) for gl in snapshot.probe_g])  # (L, K)
    return np.asarray(alpha, dtype=float) @ g


def image_goodness_figure(snapshot: Snapshot, index: int, alpha: Sequence[float], class_names: Sequence[str], *,
                          height: int | None = None) -> go.Figure:
    """One probe image: each layer's class probabilities (softmax of its goodness; raw goodness on hover), and the
    α-weighted ensemble's, with the true class marked."""
    g = np.stack([np.asarray(gl[index], dtype=float) for gl in snapshot.probe_g])  # (L, K)
    num_layers, k = g.shape
    label = int(snapshot.probe_y[index])
    probs = softmax(g, axis=1)
    scores = ensemble_scores(snapshot, index, alpha)
    ens = softmax(scores)
    pred = int(np.argmax(scores))
    names = [str(n) for n in class_names]
    rows = [layer_name(i) for i in range(num_layers)]
    colors = [class_colors(k)[j] if j == label else "#B0B0B0" for j in range(k)]
    if pred != label:
        colors[pred] = "#D62728"
    traces: list[dict[str, Any]] = [
        {"type": "heatmap", "z": probs, "x": names, "y": rows, "zmin": 0, "zmax": 1, "colorscale": colorscale("Greens"),
         "customdata": g, "xaxis": "x", "yaxis": "y", "xgap": 1, "ygap": 1,
         "colorbar": {"title": {"text": "p", "side": "top"}, "thickness": 12, "x": 0.61},
         "hovertemplate": "%{y}, class %{x}<br>p = %{z:.2f}<br>goodness %{customdata:.3f}<extra></extra>"},
        {"type": "bar", "x": names, "y": ens, "xaxis": "x2", "yaxis": "y2", "marker": {"color": colors},
         "customdata": scores, "showlegend": False,
         "hovertemplate": "class %{x}<br>p = %{y:.2f}<br>Σ α·g = %{customdata:.3f}<extra></extra>"},
    ]
    verdict = "right" if pred == label else "wrong"
    notes = [
        {"text": f"Each layer (true class {names[label]} boxed)", "xref": "paper", "yref": "paper", "x": 0.0,
         "y": 1.0, "yanchor": "bottom", "xanchor": "left", "showarrow": False, "font": {"size": 15}},
        {"text": f"The vote: {names[pred]} ({verdict})", "xref": "paper", "yref": "paper", "x": 0.72,
         "y": 1.0, "yanchor": "bottom", "xanchor": "left", "showarrow": False,
         "font": {"size": 15, "color": ENSEMBLE_COLOR if pred == label else "#D62728"}},
    ]
    shapes = [{"type": "rect", "xref": "x", "yref": "y", "x0": label - 0.5, "x1": label + 0.5, "y0": -0.5,
               "y1": num_layers - 0.5, "line": {"color": "#111", "width": 2.5}}]
    return figure(traces, {
        "height": height or max(320, 34 * num_layers + 140), "margin": {"t": 40},
        "xaxis": {"domain": [0, 0.6], "title": {"text": "class"}, "type": "category"},
        "yaxis": {"autorange": "reversed", "type": "category"},
        "xaxis2": {"domain": [0.72, 1.0], "title": {"text": "class"}, "anchor": "y2", "type": "category"},
        "yaxis2": {"anchor": "x2", "range": [0, 1], "tickformat": ".0%"},
        "annotations": notes, "shapes": shapes})
