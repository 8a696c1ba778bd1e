"""Runs grouped by seed (ffviz/seed_groups.py): one bar per group at the mean, an error bar of one standard deviation,
and every seed as a dot beside it; and the lineage's published figures, drawn apart and labelled as published.

    fig = seed_bar_figure(groups, vote_on_test, title="Test accuracy of the vote")
    fig = published_figure()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import plotly.graph_objects as go

from ffviz import modes
from ffviz.comparison import ComparedRun
from ffviz.figures.compare import RUN_COLORS
from ffviz.figures.style import empty_figure, figure, layer_name
from ffviz.seed_groups import PUBLISHED, SeedGroup, finite, mean_sd


def _color(g: SeedGroup, i: int) -> str:
    return modes.color(g.mode, RUN_COLORS[i % len(RUN_COLORS)])


def group_name(g: SeedGroup) -> str:
    """The mode's name and the number of seeds, e.g. "static partition · 3 seeds"."""
    n = len(g.runs)
    return f"{modes.label(g.mode)} · {n} seed{'s' if n > 1 else ''}"


def seed_bar_figure(groups: Sequence[SeedGroup], read: Callable[[ComparedRun], float | None], *, title: str,
                    ytitle: str = "accuracy (%)", height: int = 420, zoom: bool = True,
                    labels: bool = True) -> go.Figure:
    """One bar per group at the mean of ``read`` over its seeds, ± one standard deviation, each seed a dot; the
    mean ± sd written under the bar (``labels``). x labels: the mode, and the seeds on a second line."""
    shown = [(i, g, g.values(read)) for i, g in enumerate(groups)]
    shown = [t for t in shown if t[2]]
    if not shown:
        return empty_figure("No finished run yet", height=height, title=title)
    stats = [mean_sd(v) for _, _, v in shown]
    names = [group_name(g).replace(" · ", "<br>") + (f" · <b>{m:.1f} ± {sd:.1f}</b>" if labels else "")
             for (_, g, _), (m, sd) in zip(shown, stats, strict=True)]
    bars = {"type": "bar", "x": names, "y": [m for m, _ in stats], "name": "mean over seeds",
            "marker": {"color": [_color(g, i) for i, g, _ in shown], "opacity": 0.55},
            "error_y": {"type": "data", "array": [s for _, s in stats], "visible": True, "thickness": 2, "width": 10,
                        "color": "#222"},
            "hovertemplate": "%{x}<br>mean %{y:.2f} (± sd)<extra></extra>"}
    dots_x, dots_y, dots_text = [], [], []
    for (_, g, _), name in zip(shown, names, strict=True):
        for r in g.runs:
            v = read(r)
            if finite(v):
                dots_x.append(name)
                dots_y.append(v)
                dots_text.append(f"seed {r.config.seed}")
    dots = {"type": "scatter", "mode": "markers", "x": dots_x, "y": dots_y, "name": "one seed", "text": dots_text,
            "marker": {"size": 11, "color": "#111", "symbol": "circle-open", "line": {"width": 2}},
            "hovertemplate": "%{x}<br>%{text}: %{y:.2f}<extra></extra>"}
    values = [v for _, _, vs in shown for v in vs]
    low = min(values)
    floor = max(0.0, 10 * (int(low) // 10) - 10) if zoom else 0.0
    top = max(values)
    yaxis: dict[str, Any] = {"title": {"text": ytitle}}
    yaxis["range"] = [floor, max(100.5, top * 1.02)] if zoom else [0, top * 1.3 + 0.5]
    return figure([bars, dots], {"title": title, "height": height, "showlegend": True,
                                 "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1,
                                            "xanchor": "right"},
                                 "yaxis": yaxis, "margin": {"t": 80}})


def seed_layer_figure(groups: Sequence[SeedGroup], *, height: int = 420) -> go.Figure:
    """Each layer alone on the test split: one bar per group and layer at the mean over seeds, ± one sd."""
    title = "Accuracy of each layer alone (test split, mean ± sd over seeds)"
    traces = []
    for i, g in enumerate(groups):
        per_seed = [r.test.layer_acc for r in g.runs if r.test is not None]
        if not per_seed:
            continue
        layers = max(len(acc) for acc in per_seed)  # seeds of unequal depth: each layer over the seeds that have it
        stats = [mean_sd([acc[k] for acc in per_seed if k < len(acc)]) for k in range(layers)]
        traces.append({"type": "bar", "x": [layer_name(k) for k in range(layers)], "y": [m for m, _ in stats],
                       "error_y": {"type": "data", "array": [s for _, s in stats], "visible": True},
                       "name": group_name(g), "marker": {"color": _color(g, i)},
                       "hovertemplate": f"{group_name(g)}<br>%{{x}}: %{{y:.1f}}% (mean)<extra></extra>"})
    if not traces:
        return empty_figure("No finished run yet", height=height, title=title)
    return figure(traces, {"title": title, "height": height, "barmode": "group", "bargap": 0.2,
                           "yaxis": {"title": {"text": "accuracy (%)"}, "range": [0, 101]},
                           "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"},
                           "margin": {"t": 90}})


def published_figure(*, height: int = 420) -> go.Figure:
    """The lineage's published CIFAR-10 test accuracies (METHOD.md), hatched and labelled as published, each with
    the network and epochs it comes from."""
    rows = [p for p in PUBLISHED if p.cifar10 is not None]
    trace = {"type": "bar", "orientation": "h", "y": [f"<b>{p.method}</b><br>{p.network}<br>{p.epochs}" for p in rows],
             "x": [p.cifar10 for p in rows],
             "marker": {"color": [modes.color(p.mode, "#999") for p in rows], "opacity": 0.45,
                        "pattern": {"shape": "/"}},
             "text": [f"published {p.cifar10:.2f}%" for p in rows], "textposition": "inside",
             "insidetextanchor": "end", "textfont": {"size": 15, "color": "#111"}, "name": "published",
             "hovertemplate": "%{y}: %{x:.2f}% (published)<extra></extra>"}
    return figure([trace], {"title": "Published, CIFAR-10 test accuracy (not measured here)", "height": height,
                            "showlegend": False, "xaxis": {"title": {"text": "accuracy (%)"}, "range": [0, 100]},
                            "yaxis": {"autorange": "reversed", "automargin": True}, "margin": {"l": 210}})
