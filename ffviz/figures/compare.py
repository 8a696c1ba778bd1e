"""Several runs on the same axes: the Compare page's overlays and config diff, and the gap view, which sets a
learnable, a static and a backprop run on the same data side by side.

    runs = [ComparedRun.of(open_reader(d)) for d in dirs]
    fig = accuracy_overlay_figure(runs)
    fig = epochs_to_reach_figure(runs, threshold=95)

Every builder takes plain records; a run still at epoch 0, a run with no test record, and a run that never reaches
the threshold each draw a chart that says so instead of failing. What the charts read of a run, and the tables
beside them, are shaped in ffviz/comparison.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from ffviz import modes
from ffviz.comparison import ComparedRun, epochs_to_reach, gap_label, seconds_per_epoch
from ffviz.figures.style import empty_figure, epoch_axis, figure, layer_name

# One colour per compared run (Plotly's qualitative set, darkest first, so the first two runs read well projected).
RUN_COLORS = ("#1F77B4", "#D62728", "#2CA02C", "#FF7F0E", "#9467BD", "#8C564B", "#E377C2", "#17BECF", "#7F7F7F")
# The gap view colours runs by how they learn (each mode's colour in ffviz/modes.py), the same on every chart.


def run_colors(n: int) -> list[str]:
    return [RUN_COLORS[i % len(RUN_COLORS)] for i in range(n)]


def _legend_below() -> dict[str, Any]:
    return {"orientation": "h", "y": -0.2, "yanchor": "top", "x": 0, "xanchor": "left"}


def _by_epoch(runs: Sequence[ComparedRun], traces: list[dict[str, Any]], *, title: str, height: int,
              yaxis: dict[str, Any]) -> go.Figure:
    """An overlay of the runs by epoch: the x axis runs to the longest run's last epoch, the legend sits below."""
    last = max((r.epochs[-1].epoch for r in runs if r.epochs), default=0)
    return figure(traces, {"title": title, "height": height, "xaxis": epoch_axis(last), "yaxis": yaxis,
                           "legend": _legend_below(), "margin": {"b": 110}})


# ----------------------------------------------------------------------------------------------------- overlays
def accuracy_overlay_figure(runs: Sequence[ComparedRun], *, height: int = 400) -> go.Figure:
    """Validation accuracy of the α-weighted vote, by epoch, one line per run; stars for the test split."""
    title = "Validation accuracy of the vote (α-weighted)"
    if not any(r.epochs for r in runs):
        return empty_figure("No epoch recorded yet", height=height, title=title)
    traces: list[dict[str, Any]] = []
    for r, color in zip(runs, run_colors(len(runs)), strict=True):
        x = [e.epoch for e in r.epochs]
        traces.append({"type": "scatter", "mode": "lines+markers", "x": x, "y": [e.acc_alpha for e in r.epochs],
                       "name": r.label, "legendgroup": r.label, "line": {"color": color, "width": 3},
                       "marker": {"size": 6},
                       "hovertemplate": f"{r.label}<br>epoch %{{x}}<br>%{{y:.1f}}%<extra></extra>"})
        if r.test is not None:
            traces.append({"type": "scatter", "mode": "markers", "x": [r.test.epoch], "y": [r.test.acc_alpha],
                           "name": f"{r.label}, test", "legendgroup": r.label, "showlegend": False,
                           "marker": {"symbol": "star", "size": 16, "color": color, "line": {"width": 1}},
                           "hovertemplate": f"{r.label}, TEST split<br>%{{y:.1f}}%<extra></extra>"})
    return _by_epoch(runs, traces, title=title, height=height,
                     yaxis={"title": {"text": "validation accuracy (%)"}, "range": [0, 101]})


def loss_overlay_figure(runs: Sequence[ComparedRun], *, height: int = 400) -> go.Figure:
    """The training loss that was minimised (all layers, regularizers included), by epoch, one line per run."""
    title = "Training loss by epoch (all layers summed)"
    if not any(r.trained for r in runs):
        return empty_figure("No trained epoch yet", height=height, title=title)
    traces = []
    for r, color in zip(runs, run_colors(len(runs)), strict=True):
        rows = [e for e in r.trained if e.train_loss is not None]
        traces.append({"type": "scatter", "mode": "lines+markers", "x": [e.epoch for e in rows],
                       "y": [e.train_loss for e in rows], "name": r.label, "line": {"color": color, "width": 3},
                       "marker": {"size": 6},
                       "hovertemplate": f"{r.label}<br>epoch %{{x}}<br>loss %{{y:.3f}}<extra></extra>"})
    return _by_epoch(runs, traces, title=title, height=height,
                     yaxis={"title": {"text": "training loss"}, "type": "log"})


def final_layer_accuracy_figure(runs: Sequence[ComparedRun], *, height: int = 400) -> go.Figure:
    """Each layer's own validation accuracy at each run's last epoch, one line per run: where the depth pays."""
    title = "Each layer alone, at the last epoch"
    if not any(r.epochs for r in runs):
        return empty_figure("No epoch recorded yet", height=height, title=title)
    traces = []
    for r, color in zip(runs, run_colors(len(runs)), strict=True):
        if not r.epochs:
            continue
        last = r.epochs[-1]
        traces.append({"type": "scatter", "mode": "lines+markers", "x": list(range(len(last.val_acc))),
                       "y": last.val_acc, "name": f"{r.label} (epoch {last.epoch})",
                       "line": {"color": color, "width": 3}, "marker": {"size": 8},
                       "hovertemplate": f"{r.label}<br>layer %{{x}}<br>%{{y:.1f}}%<extra></extra>"})
    layers = max(len(r.epochs[-1].val_acc) for r in runs if r.epochs)
    xaxis: dict[str, Any] = {"title": {"text": "layer (0 sees the image)"}, "range": [-0.3, layers - 0.7]}
    if layers <= 20:
        xaxis["dtick"] = 1
    return figure(traces, {"title": title, "height": height, "xaxis": xaxis,
                           "yaxis": {"title": {"text": "validation accuracy (%)"}, "range": [0, 101]},
                           "legend": _legend_below(), "margin": {"b": 110}})


# ----------------------------------------------------------------------------------------------------- the gap
def _gap_color(r: ComparedRun, i: int) -> str:
    return modes.color(r.mode, RUN_COLORS[i % len(RUN_COLORS)])


def gap_layer_accuracy_figure(runs: Sequence[ComparedRun], *, height: int = 420) -> go.Figure:
    """Each layer's accuracy on its own, grouped by layer, one bar per run: test split when the run finished,
    else validation at its last epoch. Backprop trains only its last layer to classify."""
    title = "Accuracy of each layer alone"
    if not any(r.epochs or r.test for r in runs):
        return empty_figure("No epoch recorded yet", height=height, title=title)
    traces, splits = [], set()
    for i, r in enumerate(runs):
        if r.test is not None:
            acc, split = r.test.layer_acc, "test"
        elif r.epochs:
            acc, split = r.epochs[-1].val_acc, "validation"
        else:
            continue
        splits.add(split)
        traces.append({"type": "bar", "x": [layer_name(k) for k in range(len(acc))], "y": acc,
                       "name": gap_label(r), "marker": {"color": _gap_color(r, i)},
                       "hovertemplate": f"{gap_label(r)}<br>%{{x}}: %{{y:.1f}}% ({split})<extra></extra>"})
    which = " and ".join(sorted(splits))
    return figure(traces, {"title": f"{title} ({which} split)", "height": height, "barmode": "group",
                           "bargap": 0.2, "yaxis": {"title": {"text": "accuracy (%)"}, "range": [0, 101]},
                           "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"},
                           "margin": {"t": 80}})


GAP_ENSEMBLES = (("acc_alpha", "α-weighted vote"), ("acc_sum", "plain sum"), ("acc_last", "last layer"),
                 ("acc_best_layer", "best layer"))


def gap_ensemble_figure(runs: Sequence[ComparedRun], *, height: int = 420) -> go.Figure:
    """The whole network's accuracy, read four ways, one bar per run (test split; validation if unfinished)."""
    title = "Accuracy of the whole network"
    if not any(r.epochs or r.test for r in runs):
        return empty_figure("No epoch recorded yet", height=height, title=title)
    traces = []
    for i, r in enumerate(runs):
        source = r.test if r.test is not None else (r.epochs[-1] if r.epochs else None)
        if source is None:
            continue
        split = "test" if r.test is not None else "validation"
        ys = [v if isinstance(v := getattr(source, key), (int, float)) and math.isfinite(v) else None
              for key, _ in GAP_ENSEMBLES]  # a NaN or infinite record is a missing bar, not a broken page
        traces.append({"type": "bar", "x": [name for _, name in GAP_ENSEMBLES], "y": ys, "name": gap_label(r),
                       "marker": {"color": _gap_color(r, i)},
                       "hovertemplate": f"{gap_label(r)}<br>%{{x}}: %{{y:.2f}}% ({split})<extra></extra>"})
    low = min((y for t in traces for y in t["y"] if y is not None), default=0.0)
    floor = max(0.0, 10 * (int(low) // 10) - 10)  # zoom in: the differences are a few points
    return figure(traces, {"title": title, "height": height, "barmode": "group", "bargap": 0.25,
                           "yaxis": {"title": {"text": "accuracy (%)"}, "range": [floor, 100.5]},
                           "legend": _legend_below(), "margin": {"b": 100}})


def epochs_to_reach_figure(runs: Sequence[ComparedRun], threshold: float, *, height: int = 360) -> go.Figure:
    """How many epochs each run needed before its vote reached ``threshold`` % on validation."""
    title = f"Epochs to reach {threshold:g}%"
    if not runs:
        return empty_figure("No run chosen", height=height, title=title)
    labels, ys, texts, colors, shapes = [], [], [], [], []
    for i, r in enumerate(runs):
        n = epochs_to_reach(r.epochs, threshold)
        done = r.epochs[-1].epoch if r.epochs else 0
        labels.append(modes.short_label(r.mode) if r.mode in modes.MODES else r.label)
        colors.append(_gap_color(r, i))
        ys.append(n if n is not None else done)  # a run that never got there: its whole length, hatched
        texts.append(f"{n}" if n is not None else f"not reached in {done}")
        shapes.append("" if n is not None else "/")
    trace = {"type": "bar", "x": labels, "y": ys, "text": texts, "textposition": "outside", "cliponaxis": False,
             "marker": {"color": colors, "pattern": {"shape": shapes}},
             "hovertemplate": "%{x}<br>%{text}<extra></extra>"}
    top = max(ys + [1])
    return figure([trace], {"title": title, "height": height, "showlegend": False,
                            "yaxis": {"title": {"text": "epochs (validation vote)"}, "range": [0, top * 1.25 + 0.5]}})


def seconds_per_epoch_figure(runs: Sequence[ComparedRun], *, height: int = 360) -> go.Figure:
    """Wall seconds per training epoch (evaluation included), each on the device it ran on."""
    title = "Seconds per epoch"
    labels, ys, colors = [], [], []
    for i, r in enumerate(runs):
        s = seconds_per_epoch(r.epochs)
        if s is None:
            continue
        labels.append(modes.short_label(r.mode) if r.mode in modes.MODES else r.label)
        ys.append(s)
        colors.append(_gap_color(r, i))
    if not ys:
        return empty_figure("No trained epoch yet", height=height, title=title)
    trace = {"type": "bar", "x": labels, "y": ys, "marker": {"color": colors}, "text": [f"{y:.1f} s" for y in ys],
             "textposition": "outside", "cliponaxis": False, "hovertemplate": "%{x}<br>%{y:.2f} s<extra></extra>"}
    return figure([trace], {"title": title, "height": height, "showlegend": False,
                            "yaxis": {"title": {"text": "seconds"}, "range": [0, max(ys) * 1.25]}})
