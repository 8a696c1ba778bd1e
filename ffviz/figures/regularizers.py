"""The regularizers on W (every term of ffviz.regularizers' registry), beside the cross-entropy they compete
with, and
the Gram matrix the orthogonality term reads.

loss_l = CE + Σ_r λ_r·schedule_r·R_r(W), by default λ_entropy·H(W) + λ_orth·warm-up·O(W). The raw terms say how far W
is from sharp (H) and from orthogonal class columns (O); the weighted terms say how much each one pulls in the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ffviz import regularizers
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
from ffviz.regularizers import REGULARIZERS

CE_COLOR = "#111111"
# a term's colour: its registry entry's where it has one, else the next of a palette (a new term needs none)
_PALETTE = ("#2CA02C", "#9467BD", "#8C564B", "#E377C2", "#BCBD22", "#17BECF")


def term_color(name: str) -> str:
    others = [n for n, r in REGULARIZERS.items() if not r.color]
    own = REGULARIZERS[name].color if name in REGULARIZERS else ""
    return own or _PALETTE[others.index(name) % len(_PALETTE) if name in others else 0]


def weighted_label(name: str) -> str:
    """How the legend writes a term as weighted in the loss, e.g. "λ_orth · warm-up · O(W)"."""
    r = REGULARIZERS[name]
    schedule = f" · {r.schedule_name}" if r.schedule_name else ""
    return f"{r.weight_symbol}{schedule} · {r.symbol}"


def regularizer_figure(epochs: Sequence[EpochRecord], layer: int, events: Sequence[EventRecord] = (), *,
                       log: bool = True, current_epoch: int | None = None, height: int = 420) -> go.Figure:
    """For one layer, per epoch: the training CE, H(W) and O(W) raw (dotted) and as weighted in the loss (solid)."""
    title = f"Regularizers and cross-entropy, {layer_name(layer)}"
    trained = [e for e in epochs if e.train_ce is not None]
    if not trained:
        return empty_figure("Shown after the first training epoch", height=height, title=title)
    # the registry's terms that these records carry (a run made before a term was registered has none of it)
    names = [n for n in REGULARIZERS if any(n in (e.train_terms or {}) for e in trained)]
    if all(e.train_terms[n][layer] == 0 for e in trained for n in names if n in (e.train_terms or {})):
        return empty_figure("This run has no regularizers (static assignment: W is fixed)", height=height,
                            title=title)
    x = [e.epoch for e in trained]

    def series(name: str, values: list[float | None], color: str, dash: str, width: float, tip: str
               ) -> dict[str, Any]:
        ys = [v if v is not None and (v > 0 or not log) else None for v in values]  # a zero has no place on a log axis
        return {"type": "scatter", "mode": "lines+markers", "x": x, "y": ys, "name": name,
                "line": {"color": color, "dash": dash, "width": width}, "marker": {"size": 5},
                "hovertemplate": f"{tip}<br>epoch %{{x}}<br>%{{y:.4g}}<extra></extra>"}

    def term(e: EpochRecord, name: str, weighted: bool) -> float | None:
        terms = e.train_terms_w if weighted else e.train_terms
        return terms[name][layer] if terms and name in terms else None

    traces = [series("cross-entropy", [e.train_ce[layer] for e in trained], CE_COLOR, "solid", 3.5, "cross-entropy")]
    traces += [series(f"{weighted_label(n)}  (in the loss)", [term(e, n, True) for e in trained], term_color(n),
                      "solid", 3, f"weighted {n}") for n in names]
    traces += [series(f"{REGULARIZERS[n].symbol} raw", [term(e, n, False) for e in trained], term_color(n), "dot", 2,
                      f"raw {n} {REGULARIZERS[n].symbol}") for n in names]
    marks = merge_layout(change_markers(events, axis="epoch", epochs=epochs),
                         {"shapes": epoch_marker(current_epoch)})
    yaxis: dict[str, Any] = {"title": {"text": "value (log scale)" if log else "value"}}
    if log:
        yaxis["type"] = "log"
    return figure(traces, {"title": title, "height": height, "xaxis": epoch_axis(x[-1]), "yaxis": yaxis,
                           "legend": {"orientation": "h", "y": -0.22}, **marks})


def gram_matrix(w: np.ndarray) -> np.ndarray:
    """(K, K) cosine similarities of W's class columns (the Ŵᵀ Ŵ the orthogonality term pushes towards I), in
    float64: `ffviz.regularizers.gram_matrix`."""
    return regularizers.gram_matrix(np.asarray(w, dtype=np.float64))


def gram_figure(w: np.ndarray, class_names: Sequence[str], *, layer: int | None = None, epoch: int | None = None,
                height: int = 440) -> go.Figure:
    """Ŵᵀ Ŵ as a heatmap: 1 on the diagonal; off the diagonal, how much two classes share the same channels."""
    g = gram_matrix(w)
    penalty = float(regularizers.orthogonality(np.asarray(w, dtype=np.float64), len(w)))  # mean((G - I)^2)
    where = f", {layer_name(layer)}" if layer is not None else ""
    when = f", epoch {epoch}" if epoch is not None else ""
    names = [str(n) for n in class_names]
    trace: dict[str, Any] = {"type": "heatmap", "z": g, "x": names, "y": names, "zmin": 0.0, "zmax": 1.0,
                             "colorscale": colorscale("Purples"), "xgap": 1, "ygap": 1,
                             "colorbar": {"title": {"text": "cos", "side": "top"}, "thickness": 10},
                             "hovertemplate": "classes %{y} and %{x}<br>overlap %{z:.3f}<extra></extra>"}
    if g.shape[0] <= 12:
        trace["text"] = np.round(g, 2)
        trace["texttemplate"] = "%{text:.2f}"
        trace["textfont"] = {"size": 11}
    return figure([trace], {"title": f"Gram matrix ŴᵀŴ{where}{when}<br><sup>mean((G−I)²) = {penalty:.3g}</sup>",
                            "height": height, "xaxis": {"title": {"text": "class"}, "type": "category"},
                            "yaxis": {"title": {"text": "class"}, "type": "category", "autorange": "reversed"},
                            "margin": {"l": 48, "r": 8}})  # a narrow column keeps most of its width for the matrix
