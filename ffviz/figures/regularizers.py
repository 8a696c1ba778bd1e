"""The two regularizers on W, beside the cross-entropy they compete with, and the Gram matrix the second one reads.

loss_l = CE + λ_entropy·H(W) + λ_orth·warm-up·O(W). The raw terms say how far W is from sharp (H) and from
orthogonal class columns (O); the weighted terms say how much each one actually pulls in the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ffviz.figures.style import (
    change_markers,
    colorscale,
    empty_figure,
    epoch_axis,
    epoch_marker,
    figure,
    layer_name,
    merge_layout,
)
from ffviz.records import EpochRecord, EventRecord

CE_COLOR, ENT_COLOR, ORTH_COLOR = "#111111", "#1F77B4", "#E4572E"


def regularizer_figure(epochs: Sequence[EpochRecord], layer: int, events: Sequence[EventRecord] = (), *,
                       log: bool = True, current_epoch: int | None = None, height: int = 420) -> go.Figure:
    """For one layer, per epoch: the training CE, H(W) and O(W) raw (dotted) and as weighted in the loss (solid)."""
    title = f"Regularizers and cross-entropy, {layer_name(layer)}"
    trained = [e for e in epochs if e.train_ce is not None]
    if not trained:
        return empty_figure("Shown after the first training epoch", height=height, title=title)
    if all(e.train_entropy[layer] == 0 and e.train_orth[layer] == 0 for e in trained):
        return empty_figure("This run has no regularizers (static assignment: W is fixed)", height=height,
                            title=title)
    x = [e.epoch for e in trained]

    def series(name: str, values: list[float], color: str, dash: str, width: float, tip: str) -> dict[str, Any]:
        ys = [v if (v > 0 or not log) else None for v in values]  # a zero has no place on a log axis
        return {"type": "scatter", "mode": "lines+markers", "x": x, "y": ys, "name": name,
                "line": {"color": color, "dash": dash, "width": width}, "marker": {"size": 5},
                "hovertemplate": f"{tip}<br>epoch %{{x}}<br>%{{y:.4g}}<extra></extra>"}

    traces = [
        series("cross-entropy", [e.train_ce[layer] for e in trained], CE_COLOR, "solid", 3.5, "cross-entropy"),
        series("λ_entropy · H(W)  (in the loss)", [e.train_entropy_w[layer] for e in trained], ENT_COLOR, "solid",
               3, "weighted entropy"),
        series("λ_orth · warm-up · O(W)  (in the loss)", [e.train_orth_w[layer] for e in trained], ORTH_COLOR,
               "solid", 3, "weighted orthogonality"),
        series("H(W) raw", [e.train_entropy[layer] for e in trained], ENT_COLOR, "dot", 2, "raw entropy H(W)"),
        series("O(W) raw", [e.train_orth[layer] for e in trained], ORTH_COLOR, "dot", 2, "raw orthogonality O(W)"),
    ]
    marks = merge_layout(change_markers(events, axis="epoch", epochs=epochs),
                         {"shapes": epoch_marker(current_epoch)})
    yaxis: dict[str, Any] = {"title": {"text": "value (log scale)" if log else "value"}}
    if log:
        yaxis["type"] = "log"
    return figure(traces, {"title": title, "height": height, "xaxis": epoch_axis(x[-1]), "yaxis": yaxis,
                           "legend": {"orientation": "h", "y": -0.22}, **marks})


def gram_matrix(w: np.ndarray) -> np.ndarray:
    """(K, K) cosine similarities of W's class columns (the Ŵᵀ Ŵ the orthogonality term pushes towards I)."""
    w = np.asarray(w, dtype=np.float64)
    w_hat = w / (np.linalg.norm(w, axis=0, keepdims=True) + 1e-10)
    return w_hat.T @ w_hat


def gram_figure(w: np.ndarray, class_names: Sequence[str], *, layer: int | None = None, epoch: int | None = None,
                height: int = 440) -> go.Figure:
    """Ŵᵀ Ŵ as a heatmap: 1 on the diagonal; off the diagonal, how much two classes share the same channels."""
    g = gram_matrix(w)
    k = g.shape[0]
    penalty = float(((g - np.eye(k)) ** 2).mean())
    where = f", {layer_name(layer)}" if layer is not None else ""
    when = f", epoch {epoch}" if epoch is not None else ""
    names = [str(n) for n in class_names]
    trace: dict[str, Any] = {"type": "heatmap", "z": g, "x": names, "y": names, "zmin": 0.0, "zmax": 1.0,
                             "colorscale": colorscale("Purples"), "xgap": 1, "ygap": 1,
                             "colorbar": {"title": {"text": "cos", "side": "top"}, "thickness": 14},
                             "hovertemplate": "classes %{y} and %{x}<br>overlap %{z:.3f}<extra></extra>"}
    if k <= 12:
        trace["text"] = np.round(g, 2)
        trace["texttemplate"] = "%{text:.2f}"
        trace["textfont"] = {"size": 11}
    return figure([trace], {"title": f"Gram matrix ŴᵀŴ{where}{when}<br><sup>mean((G−I)²) = {penalty:.3g}</sup>",
                            "height": height, "xaxis": {"title": {"text": "class"}, "type": "category"},
                            "yaxis": {"title": {"text": "class"}, "type": "category", "autorange": "reversed"}})
