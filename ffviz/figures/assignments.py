"""The learnable channel-class assignment W (C channels x K classes) of a layer, and how it evolves.

At initialisation every row of W is uniform (each channel gives 1/K to every class); training sharpens the rows
until most channels vote for one class. These figures show W at one epoch, its sharpness, the number of channels
that each class owns, the assignment temperature, and one channel's class weights over time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ffviz.figures.style import (
    class_colors,
    empty_figure,
    epoch_axis,
    epoch_marker,
    figure,
    highlight_style,
    layer_colors,
    layer_name,
)
from ffviz.records import EpochRecord


def channel_order(w: np.ndarray) -> np.ndarray:
    """Channel indices sorted by their strongest class, then by how strongly they hold it (most confident first)."""
    w = np.asarray(w)
    strongest = w.argmax(1)
    return np.lexsort((-w.max(1), strongest))


def heatmap_height(channels: int) -> int:
    return int(min(max(14 * channels + 130, 380), 760))


def assignment_heatmap(w: np.ndarray, class_names: Sequence[str], *, order: np.ndarray | None = None,
                       layer: int | None = None, epoch: int | None = None, selected: int | None = None,
                       clickable: bool = True) -> go.Figure:
    """W as a heatmap: one row per channel (ordered by ``order``, default by strongest class), one column per class.

    With ``clickable`` an invisible marker sits on every cell so a click selects its channel (``customdata`` holds
    the channel index); Plotly does not report clicks on heatmaps themselves.
    """
    w = np.asarray(w, dtype=float)
    c, k = w.shape
    order = channel_order(w) if order is None else np.asarray(order)
    z = w[order]  # (C, K) rows in display order
    rows = np.arange(c)
    where = f" of {layer_name(layer)}" if layer is not None else ""
    when = f" at epoch {epoch}" if epoch is not None else ""
    names = [str(n) for n in class_names]
    hover = np.broadcast_to(order[:, None], (c, k))
    traces: list[dict[str, Any]] = [{
        "type": "heatmap", "z": z, "x": list(range(k)), "y": rows, "zmin": 0.0, "zmax": 1.0,
        "colorscale": "Blues", "customdata": hover, "xgap": 1, "ygap": 1 if c <= 60 else 0,
        "colorbar": {"title": {"text": "W", "side": "top"}, "thickness": 14},
        "hovertemplate": "channel %{customdata}<br>class %{x}<br>W = %{z:.3f}<extra></extra>",
    }]
    if clickable:
        xs, ys = np.meshgrid(np.arange(k), rows)
        traces.append({"type": "scatter", "mode": "markers", "x": xs.ravel(), "y": ys.ravel(),
                       "customdata": order[ys.ravel()], "showlegend": False, "hoverinfo": "skip",
                       "marker": {"size": max(4, min(18, 600 // max(c, 1))), "opacity": 0.0, "color": "#000"},
                       "selected": {"marker": {"opacity": 0.0}}, "unselected": {"marker": {"opacity": 0.0}}})
    shapes = []
    strongest = w[order].argmax(1)
    for r in np.flatnonzero(np.diff(strongest)) + 0.5:  # thin lines between the class blocks
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": r, "y1": r,
                       "line": {"color": "rgba(0,0,0,0.35)", "width": 1}})
    if selected is not None and selected in order:
        r = int(np.flatnonzero(order == selected)[0])
        shapes.append({"type": "rect", "xref": "x", "yref": "y", "x0": -0.5, "x1": k - 0.5, "y0": r - 0.5,
                       "y1": r + 0.5, "line": {"color": "#C2185B", "width": 3}})
    step = max(1, math.ceil(c / 30))
    yaxis = {"title": {"text": "channel (ordered by strongest class)"}, "autorange": "reversed",
             "tickmode": "array", "tickvals": rows[::step].tolist(), "ticktext": [str(i) for i in order[::step]],
             "showgrid": False, "zeroline": False}
    xaxis = {"title": {"text": "class"}, "tickmode": "array", "tickvals": list(range(k)),
             "ticktext": names, "side": "bottom", "showgrid": False, "zeroline": False}
    if k > 20:
        xaxis.pop("ticktext")
        xaxis["tickmode"] = "auto"
    return figure(traces, {"title": f"Assignment W{where}{when}", "height": heatmap_height(c),
                           "xaxis": xaxis, "yaxis": yaxis, "shapes": shapes, "dragmode": False,
                           "clickmode": "event+select", "margin": {"l": 70}})


def sharpness_figure(epochs: Sequence[EpochRecord], *, highlight: int | None = None,
                     current_epoch: int | None = None, num_classes: int | None = None,
                     height: int = 300) -> go.Figure:
    """Mean over channels of each channel's strongest-class weight, per layer: 1/K uniform, 1 fully decided."""
    title = "How decided the channels are (mean strongest-class weight)"
    if not epochs:
        return empty_figure("No epoch yet", height=height, title=title)
    n = len(epochs[0].w_sharpness)
    colors = layer_colors(n)
    x = [e.epoch for e in epochs]
    traces = []
    for i in range(n):
        st = highlight_style(i, highlight)
        traces.append({"type": "scatter", "mode": "lines+markers", "x": x, "y": [e.w_sharpness[i] for e in epochs],
                       "name": layer_name(i), "opacity": st["opacity"],
                       "line": {"color": colors[i], "width": st["width"]}, "marker": {"size": 4},
                       "hovertemplate": f"{layer_name(i)}<br>epoch %{{x}}<br>%{{y:.3f}}<extra></extra>"})
    shapes = epoch_marker(current_epoch)
    notes = []
    if num_classes:
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": 1 / num_classes,
                       "y1": 1 / num_classes, "line": {"color": "#888", "dash": "dot", "width": 1.5}})
        notes.append({"xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": 1 / num_classes,
                      "yanchor": "bottom", "text": "uniform (1/K)", "showarrow": False,
                      "font": {"color": "#666", "size": 12}})
    return figure(traces, {"title": title, "height": height, "xaxis": epoch_axis(x[-1]),
                           "yaxis": {"title": {"text": "max_k W"}, "range": [0, 1.02]}, "shapes": shapes,
                           "annotations": notes, "showlegend": False})


def channels_per_class_figure(epochs: Sequence[EpochRecord], layer: int, class_names: Sequence[str], *,
                              current_epoch: int | None = None, height: int = 300) -> go.Figure:
    """For one layer: how many channels have each class as their strongest, stacked, by epoch."""
    title = f"Channels per class, {layer_name(layer)}"
    if not epochs:
        return empty_figure("No epoch yet", height=height, title=title)
    x = [e.epoch for e in epochs]
    counts = np.asarray([e.channels_per_class[layer] for e in epochs])  # (E, K)
    colors = class_colors(counts.shape[1])
    traces = [{"type": "bar", "x": x, "y": counts[:, k], "name": str(class_names[k]),
               "marker": {"color": colors[k]},
               "hovertemplate": f"class {class_names[k]}<br>epoch %{{x}}<br>%{{y}} channels<extra></extra>"}
              for k in range(counts.shape[1])]
    return figure(traces, {"title": title, "height": height, "barmode": "stack", "bargap": 0.15,
                           "xaxis": epoch_axis(x[-1]), "yaxis": {"title": {"text": "channels"}},
                           "shapes": epoch_marker(current_epoch), "legend": {"title": {"text": "class"}}})


def temperature_figure(epochs: Sequence[EpochRecord], *, highlight: int | None = None,
                       current_epoch: int | None = None, height: int = 300) -> go.Figure:
    """The assignment temperature T_e of every layer (log scale): lower T, sharper softmax, more decided W."""
    title = "Assignment temperature T"
    if not epochs or all(not math.isfinite(t) for t in epochs[0].temperature):
        return empty_figure("This run has no temperature (static assignment)", height=height, title=title)
    n = len(epochs[0].temperature)
    colors = layer_colors(n)
    x = [e.epoch for e in epochs]
    traces = []
    for i in range(n):
        st = highlight_style(i, highlight)
        traces.append({"type": "scatter", "mode": "lines+markers", "x": x, "y": [e.temperature[i] for e in epochs],
                       "name": layer_name(i), "opacity": st["opacity"],
                       "line": {"color": colors[i], "width": st["width"]}, "marker": {"size": 4},
                       "hovertemplate": f"{layer_name(i)}<br>epoch %{{x}}<br>T = %{{y:.3g}}<extra></extra>"})
    return figure(traces, {"title": title, "height": height, "xaxis": epoch_axis(x[-1]),
                           "yaxis": {"title": {"text": "T (log scale)"}, "type": "log"},
                           "shapes": epoch_marker(current_epoch), "showlegend": False})


def channel_history_figure(history: Mapping[int, np.ndarray], class_names: Sequence[str], *, channel: int,
                           layer: int | None = None, current_epoch: int | None = None,
                           height: int = 300) -> go.Figure:
    """One channel's class weights W[channel, :] over the epochs: watch it pick a class."""
    where = f", {layer_name(layer)}" if layer is not None else ""
    title = f"Channel {channel}{where}: its class weights over time"
    if not history:
        return empty_figure("No epoch yet", height=height, title=title)
    x = sorted(history)
    rows = np.asarray([history[e] for e in x], dtype=float)  # (E, K)
    colors = class_colors(rows.shape[1])
    traces = [{"type": "scatter", "mode": "lines+markers", "x": x, "y": rows[:, k], "name": str(class_names[k]),
               "line": {"color": colors[k], "width": 2.5}, "marker": {"size": 5},
               "hovertemplate": f"class {class_names[k]}<br>epoch %{{x}}<br>W = %{{y:.3f}}<extra></extra>"}
              for k in range(rows.shape[1])]
    return figure(traces, {"title": title, "height": height, "xaxis": epoch_axis(x[-1]),
                           "yaxis": {"title": {"text": "W[channel, class]"}, "range": [0, 1.02]},
                           "shapes": epoch_marker(current_epoch), "legend": {"title": {"text": "class"}}})
