"""The learnable channel-class assignment W (C channels x K classes) of a layer, and how it evolves.

At initialisation every row of W is uniform (each channel gives 1/K to every class); training sharpens the rows
until most channels vote for one class. These figures show W at one epoch, its sharpness, the number of channels
that each class owns, the assignment temperature, and one channel's class weights over time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ffviz.figures.style import (
    class_colors,
    colorscale,
    empty_figure,
    epoch_axis,
    epoch_marker,
    figure,
    highlight_style,
    layer_colors,
    layer_name,
    stack,
)
from ffviz.records import EpochRecord

UNDECIDED = 0.01  # a layer whose mean strongest-class weight is within this of 1/K has not chosen yet


def channel_order(w: np.ndarray) -> np.ndarray:
    """Channel indices sorted by their strongest class, then by how strongly they hold it (most confident first)."""
    w = np.asarray(w)
    strongest = w.argmax(1)
    return np.lexsort((-w.max(1), strongest))


def heatmap_height(channels: int) -> int:
    return int(min(max(14 * channels + 130, 560), 820))


def color_cap(w_last: np.ndarray) -> float:
    """A colour-scale top for scrubbing one layer's W: its largest weight at the last epoch, at least 2/K."""
    w_last = np.asarray(w_last)
    return float(min(1.0, max(w_last.max(), 2.0 / w_last.shape[1])))


def assignment_heatmap(w: np.ndarray, class_names: Sequence[str], *, order: np.ndarray | None = None,
                       layer: int | None = None, epoch: int | None = None, selected: int | None = None,
                       zmax: float = 1.0, clickable: bool = True) -> go.Figure:
    """W as a heatmap: one row per channel (ordered by ``order``, default by strongest class), one column per class.

    With ``clickable`` an invisible marker sits on each row's strongest cell, so a click there selects the channel
    (``customdata`` holds the channel index); Plotly does not report clicks on heatmap cells themselves. ``zmax``
    caps the colour scale (keep it fixed while scrubbing, e.g. at the layer's largest weight at the last epoch, so
    epochs compare).
    """
    w = np.asarray(w, dtype=float)
    c, k = w.shape
    order = channel_order(w) if order is None else np.asarray(order)
    z = w[order]  # (C, K) rows in display order
    rows = np.arange(c)
    where = f" of {layer_name(layer)}" if layer is not None else ""
    when = f" at epoch {epoch}" if epoch is not None else ""
    names = [str(n) for n in class_names]
    traces: list[dict[str, Any]] = [{
        "type": "heatmap", "z": z, "x": list(range(k)), "y": rows, "zmin": 0.0, "zmax": zmax,
        "colorscale": colorscale("Blues"), "xgap": 1, "ygap": 1 if c <= 60 else 0,
        "colorbar": {"title": {"text": "W", "side": "top"}, "thickness": 14},
        "customdata": np.broadcast_to(order[:, None], (c, k)), "text": [names] * c,  # a class's name, not its index
        "hovertemplate": "channel %{customdata}<br>class %{text}<br>W = %{z:.3f}<extra></extra>",
    }]
    if clickable:
        # An invisible marker on each row's strongest cell takes the click (customdata: the channel); Plotly does not
        # report clicks on heatmap cells. One marker per row keeps a wide layer cheap to draw.
        strongest_col = z.argmax(1)
        traces.append({"type": "scatter", "mode": "markers", "x": strongest_col, "y": rows, "customdata": order,
                       "showlegend": False, "text": [names[j] for j in strongest_col],
                       "hovertemplate": "channel %{customdata}, strongest class %{text}<br>click to follow it"
                                        "<extra></extra>",
                       "marker": {"size": max(6, min(18, 600 // max(c, 1))), "opacity": 0.0, "color": "#000"},
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
    # Many classes (digit pairs: 25 or 100): every name stays a name ("07", not 7), written upright, every
    # ceil(K/25)-th one so that they do not overlap; hovering a cell names its class.
    every = max(1, math.ceil(k / 25))
    xaxis = {"title": {"text": "class"}, "tickmode": "array", "tickvals": list(range(0, k, every)),
             "ticktext": names[::every], "side": "bottom", "showgrid": False, "zeroline": False,
             **({"tickangle": -90, "tickfont": {"size": 11}} if k > 20 else {})}
    return figure(traces, {"title": f"Assignment W{where}{when}", "height": heatmap_height(c),
                           "xaxis": xaxis, "yaxis": yaxis, "shapes": shapes, "dragmode": False,
                           "clickmode": "event+select", "margin": {"l": 70}})


def sharpness_figure(epochs: Sequence[EpochRecord], *, highlight: int | None = None,
                     current_epoch: int | None = None, num_classes: int | None = None,
                     height: int = 300) -> go.Figure:
    """Mean over channels of each channel's strongest-class weight, per layer: 1/K uniform, 1 fully decided."""
    title = "How decided the channels are"
    if not epochs:
        return empty_figure("No epoch yet", height=height, title=title)
    traces = _layer_lines(epochs, lambda e: e.w_sharpness, highlight=highlight, hover_value="%{y:.3f}")
    shapes = epoch_marker(current_epoch)
    notes = []
    if num_classes:
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": 1 / num_classes,
                       "y1": 1 / num_classes, "line": {"color": "#888", "dash": "dot", "width": 1.5}})
        notes.append({"xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": 1 / num_classes,
                      "yanchor": "bottom", "text": "uniform (1/K)", "showarrow": False,
                      "font": {"color": "#666", "size": 12}})
    # The legend names the layers (their colours hold for the temperature below too: one click hides a layer in both).
    return figure(traces, {"title": title, "height": height, "xaxis": epoch_axis(epochs[-1].epoch),
                           "yaxis": {"title": {"text": "mean of max_k W"}, "range": [0, 1.02]}, "shapes": shapes,
                           "annotations": notes, "legend": {"font": {"size": 12}, "tracegroupgap": 0,
                                                            "title": {"text": "layer"}}})


def channels_per_class_figure(epochs: Sequence[EpochRecord], layer: int, class_names: Sequence[str], *,
                              current_epoch: int | None = None, height: int = 300) -> go.Figure:
    """For one layer: how many channels have each class as their strongest, stacked, by epoch."""
    title = f"Channels per class, {layer_name(layer)}"
    epochs = [e for e in epochs if e.channels_per_class[layer]]  # an imported log counts them where it holds W
    if not epochs:
        return empty_figure("No epoch yet", height=height, title=title)
    x = [e.epoch for e in epochs]
    counts = np.asarray([e.channels_per_class[layer] for e in epochs])  # (E, K)
    k = counts.shape[1]
    # Where W is still (nearly) uniform, as at epoch 0, a channel's "strongest" class is a tie or noise that argmax
    # breaks towards class 0: draw those epochs as one grey "undecided" bar instead.
    undecided = np.asarray([e.w_sharpness[layer] - 1 / k < UNDECIDED for e in epochs])
    counts = np.where(undecided[:, None], 0, counts)
    colors = class_colors(k)
    traces: list[dict[str, Any]] = [
        {"type": "bar", "x": x, "y": counts[:, j], "name": str(class_names[j]), "marker": {"color": colors[j]},
         "hovertemplate": f"class {class_names[j]}<br>epoch %{{x}}<br>%{{y}} channels<extra></extra>"}
        for j in range(k)]
    if undecided.any():
        totals = np.asarray([sum(e.channels_per_class[layer]) for e in epochs])
        traces.append({"type": "bar", "x": x, "y": np.where(undecided, totals, 0), "name": "undecided",
                       "marker": {"color": "#CCCCCC"},
                       "hovertemplate": "epoch %{x}<br>%{y} channels, W still uniform<extra></extra>"})
    return figure(traces, {"title": title, "height": height, "barmode": "stack", "bargap": 0.15,
                           "xaxis": epoch_axis(x[-1]), "yaxis": {"title": {"text": "channels"}},
                           "shapes": epoch_marker(current_epoch),
                           "legend": {"title": {"text": "class"}, "font": {"size": 11}, "tracegroupgap": 0}})


def temperature_figure(epochs: Sequence[EpochRecord], *, highlight: int | None = None,
                       current_epoch: int | None = None, height: int = 300) -> go.Figure:
    """The assignment temperature T_e of every layer (log scale): lower T, sharper softmax, more decided W."""
    title = "Assignment temperature T"
    if not epochs or all(not math.isfinite(t) for t in epochs[0].temperature):
        return empty_figure("No temperature recorded (static, or not in the logs)", height=height, title=title)
    traces = _layer_lines(epochs, lambda e: e.temperature, highlight=highlight, hover_value="T = %{y:.3g}")
    temps = [t for e in epochs for t in e.temperature if math.isfinite(t) and t > 0]
    yaxis: dict[str, Any] = {"title": {"text": "T (log scale)"}, "type": "log"}
    if temps and max(temps) / min(temps) > 20:
        yaxis["dtick"] = 1  # label the powers of ten only
    return figure(traces, {"title": title, "height": height, "xaxis": epoch_axis(epochs[-1].epoch), "yaxis": yaxis,
                           "shapes": epoch_marker(current_epoch), "showlegend": False})


def _layer_lines(epochs: Sequence[EpochRecord], values: Callable[[EpochRecord], Sequence[float]], *,
                 highlight: int | None, hover_value: str) -> list[dict[str, Any]]:
    """One line per layer over the epochs (``values(e)[i]``: layer i at epoch e), the highlighted layer in bold;
    ``hover_value`` is the Plotly hover text of a point's value."""
    n = len(values(epochs[0]))
    colors = layer_colors(n)
    x = [e.epoch for e in epochs]
    traces = []
    for i in range(n):
        st = highlight_style(i, highlight)
        traces.append({"type": "scatter", "mode": "lines+markers", "x": x, "y": [values(e)[i] for e in epochs],
                       "name": str(i), "legendgroup": layer_name(i), "opacity": st["opacity"],
                       "line": {"color": colors[i], "width": st["width"]}, "marker": {"size": 4},
                       "hovertemplate": f"{layer_name(i)}<br>epoch %{{x}}<br>{hover_value}<extra></extra>"})
    return traces


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


def assignment_panel_figure(epochs: Sequence[EpochRecord], layer: int, class_names: Sequence[str], *,
                            current_epoch: int | None = None, height: int = 760) -> go.Figure:
    """Beside the heatmap, per layer over epochs, in one figure: how decided the channels are (every layer, the
    chosen one in bold), how many channels each class owns (the chosen layer), and the temperature (every layer)."""
    k = len(class_names)
    # Room under the top two bands for their legends (layers, classes), two or three rows each on a narrow column.
    height += 140
    return stack([sharpness_figure(epochs, highlight=layer, current_epoch=current_epoch, num_classes=k),
                  channels_per_class_figure(epochs, layer, class_names, current_epoch=current_epoch),
                  temperature_figure(epochs, highlight=layer, current_epoch=current_epoch)], height=height,
                 gap=min(0.24, 190 / max(height - 90, 1)))
