"""The look every figure shares: colours by layer and by class, fonts large enough to project, change markers.

Figures are built from plain dicts and wrapped without Plotly's validation (``figure``): validating a figure costs
tens of milliseconds, and the live pages rebuild theirs every second next to a training thread. The tests validate
every builder's output once instead.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.colors import make_colorscale, sample_colorscale, sequential

from ffviz import regularizers
from ffviz.config import FIELDS, LIVE_FIELDS, short_label
from ffviz.records import EpochRecord, EventRecord

FONT_SIZE = 15  # readable from the back of a classroom
TITLE_SIZE = 17
# Shallow layers blue, deep layers red, through cyan, green and orange: Turbo's hues tell 9 or 17 neighbouring layers
# apart on a projector, where Viridis's greens ran together for layers 4-8. Its darkest and palest ends are cut off.
LAYER_SCALE = "Turbo"
LAYER_SPAN = (0.05, 0.95)
# Legends go under the plot, across its width: beside it, a legend of 9 or 17 layers took most of a half-width chart
# (the plot was 70 px wide at 1400 px). Plotly grows the bottom margin to fit it.
LEGEND_BELOW = {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.2, "yanchor": "top"}
CLASS_COLORS = ("#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F",
                "#BCBD22", "#17BECF")
ENSEMBLE_COLOR = "#111111"
CHANGE_COLOR = "#C2185B"
TEXT_COLOR = "#31333F"  # Streamlit's text colour, for titles drawn as annotations
# The live fields by the names a change marker gives them (stated on RunConfig's fields).
LIVE_NAMES = {name: short_label(name) for name in LIVE_FIELDS}


def _name(field: str) -> str:
    """A changed field's name on a chart; a name no field has (a record from another version) as it is."""
    return LIVE_NAMES.get(field) or (short_label(field) if field in FIELDS else field)


def layer_colors(n: int) -> list[str]:
    """One colour per layer, ordered from the first (dark) to the last (light)."""
    lo, hi = LAYER_SPAN
    if n <= 1:
        return sample_colorscale(LAYER_SCALE, [lo])
    return sample_colorscale(LAYER_SCALE, [lo + (hi - lo) * i / (n - 1) for i in range(n)])


def class_colors(k: int) -> list[str]:
    """One colour per class: Plotly's ten for up to ten classes, a rainbow beyond."""
    if k <= len(CLASS_COLORS):
        return list(CLASS_COLORS[:k])
    return sample_colorscale("Turbo", [i / (k - 1) for i in range(k)])


def colorscale(name: str) -> list[list[Any]]:
    """A ColorBrewer scale (light to dark) as explicit stops. Unvalidated figures pass names straight to plotly.js,
    whose own "Blues" runs the other way, dark to light."""
    return make_colorscale(getattr(sequential, name))


def figure(data: Sequence[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """A Figure from plain trace and layout dicts, with the shared fonts and margins, unvalidated (fast)."""
    base: dict[str, Any] = {
        "font": {"size": FONT_SIZE},
        "margin": {"l": 60, "r": 20, "t": 56, "b": 50},
        "legend": {"font": {"size": FONT_SIZE - 2}, **LEGEND_BELOW},
        "hoverlabel": {"font": {"size": FONT_SIZE - 1}},
        "height": 380,
    }
    for key, value in layout.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    if isinstance(base.get("title"), str):
        base["title"] = {"text": base["title"], "font": {"size": TITLE_SIZE}}
    for key, value in base.items():
        # Automatic margins make Plotly lay a chart out several times over (~3x slower to draw); the fixed margins
        # above leave room for the tick labels instead.
        if key.startswith(("xaxis", "yaxis")) and isinstance(value, dict):
            value.setdefault("automargin", False)
            if value.get("type") == "log":  # 0.9, 0.8, 0.7 between powers of ten, not Plotly's bare digits 9, 8, 7
                value.setdefault("minorloglabels", "complete")
                value.setdefault("exponentformat", "e")  # 1e-4, not the SI prefix "100μ" a class does not read
    settled_pandas()
    fig = go.Figure(data=list(data), layout=base, _validate=False)
    fig._parts = (list(data), base)  # the plain dicts, for stack() (reading them back from Plotly costs ~10 ms)
    return fig


def layer_name(i: int) -> str:
    return f"layer {i}"


def highlight_style(i: int, highlight: int | None) -> dict[str, Any]:
    """Line width and opacity that make the chosen layer stand out and keep the others as context."""
    if highlight is None:
        return {"width": 2.5, "opacity": 1.0}
    return {"width": 4.5, "opacity": 1.0} if i == highlight else {"width": 1.5, "opacity": 0.3}


def format_changes(changes: dict[str, list[Any]]) -> str:
    """{"lambda_entropy": [0.01, 0.03]} -> "λ_entropy 0.01 → 0.03"."""
    return ", ".join(f"{_name(k)} {_num(old)} → {_num(new)}" for k, (old, new) in changes.items())


def _num(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def set_events(events: Iterable[EventRecord]) -> list[EventRecord]:
    """The live hyperparameter changes among a run's events."""
    return [e for e in events if e.action == "set" and e.changes]


def event_epoch_x(event: EventRecord, epochs: Sequence[EpochRecord], steps_per_epoch: int | None = None) -> float:
    """Where a change made during training sits on an epoch axis: epochs completed plus the fraction of the
    epoch in progress (x = 2.5: halfway through the third epoch)."""
    if steps_per_epoch is None:
        steps_per_epoch = steps_per_epoch_of(epochs)
    start = next((e.step for e in epochs if e.epoch == event.epoch), None)
    if not steps_per_epoch or start is None:
        return float(event.epoch)
    return event.epoch + min(max((event.step - start) / steps_per_epoch, 0.0), 1.0)


def steps_per_epoch_of(epochs: Sequence[EpochRecord]) -> int | None:
    for a, b in zip(epochs, epochs[1:], strict=False):
        if b.step > a.step:
            return b.step - a.step
    return None


def change_markers(events: Iterable[EventRecord], *, axis: str, epochs: Sequence[EpochRecord] = (),
                   xref: str = "x") -> dict[str, list[dict[str, Any]]]:
    """Layout shapes and annotations marking every live change: a dashed vertical line, a flag with the change.

    axis: "step" (batch charts) or "epoch" (epoch charts; ``epochs`` place the change inside its epoch).
    """
    shapes, notes = [], []
    spe = steps_per_epoch_of(epochs) if axis == "epoch" else None
    for ev in set_events(events):
        x = ev.step if axis == "step" else event_epoch_x(ev, epochs, spe)
        text = format_changes(ev.changes)
        shapes.append({"type": "line", "xref": xref, "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                       "line": {"color": CHANGE_COLOR, "width": 2, "dash": "dash"}})
        notes.append({"xref": xref, "yref": "paper", "x": x, "y": 1.0, "yanchor": "bottom", "showarrow": False,
                      "text": "⚑ " + _short(ev.changes), "hovertext": f"step {ev.step}: {text}",
                      "font": {"color": CHANGE_COLOR, "size": FONT_SIZE - 3}})
    return {"shapes": shapes, "annotations": notes}


def _short(changes: dict[str, list[Any]]) -> str:
    # the flag above a chart is a few pixels wide: each regularizer's weight by its short label (λe, λo)
    tiny = {r.weight_field: regularizers.short_label(n) for n, r in regularizers.REGULARIZERS.items()} | {"lr": "lr"}
    return " ".join(f"{tiny.get(k) or _name(k)}={_num(new)}" for k, (_, new) in changes.items())


def epoch_marker(epoch: int | None, xref: str = "x") -> list[dict[str, Any]]:
    """A soft vertical band at the epoch the user is looking at (scrubbing), for epoch charts beside a view."""
    if epoch is None:
        return []
    return [{"type": "rect", "xref": xref, "yref": "paper", "x0": epoch - 0.15, "x1": epoch + 0.15, "y0": 0, "y1": 1,
             "fillcolor": "rgba(255, 193, 7, 0.35)", "line": {"width": 0}, "layer": "below"}]


def epoch_axis(last_epoch: int, title: str = "epoch") -> dict[str, Any]:
    """An x axis of epochs; whole-epoch ticks on short runs (Plotly would otherwise label 0.5, 1.5...)."""
    axis: dict[str, Any] = {"title": {"text": title}}
    if last_epoch <= 12:
        axis["dtick"] = 1
    return axis


def merge_layout(*parts: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Concatenate the shapes and annotations of several marker sets."""
    out: dict[str, list[dict[str, Any]]] = {"shapes": [], "annotations": []}
    for p in parts:
        for k in out:
            out[k].extend(p.get(k, []))
    return out


def empty_figure(message: str, *, height: int = 300, title: str | None = None) -> go.Figure:
    """A blank chart that says why it is blank (no epoch yet, a static run has no regularizers...)."""
    layout: dict[str, Any] = {"height": height, "xaxis": {"visible": False}, "yaxis": {"visible": False},
                              "annotations": [{"text": message, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                               "showarrow": False, "font": {"size": FONT_SIZE + 1, "color": "#666"}}]}
    if title:
        layout["title"] = title
    return figure([], layout)


def stack(figs: Sequence[go.Figure], *, height: int, gap: float = 0.1) -> go.Figure:
    """Several figures as one, stacked top to bottom on a shared x axis, each keeping its title, axes, shapes and
    legend (across the width, under its band: the plots keep the chart's whole width). One figure draws in the
    browser far faster than several: the live pages redraw whatever changed."""
    n = len(figs)
    band = (1.0 - gap * (n - 1)) / n
    plot_px = max(height - 90, 100)  # the plotting area's height in pixels, for offsets given in pixels
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {"height": height, "shapes": [], "annotations": [], "margin": {"t": 40}}
    for i, fig in enumerate(figs):
        traces, lay = getattr(fig, "_parts", None) or (fig.to_plotly_json()["data"], fig.to_plotly_json()["layout"])
        k = "" if i == 0 else str(i + 1)
        top = 1.0 - i * (band + gap)
        domain = [max(top - band, 0.0), top]
        for trace in traces:
            data.append({**trace, "xaxis": f"x{k}", "yaxis": f"y{k}", "legend": f"legend{k}"})
        shows_legend = lay.get("showlegend", True) is not False and any(t.get("showlegend", True) for t in traces)
        layout[f"xaxis{k}"] = {**lay.get("xaxis", {}), "anchor": f"y{k}", **({"matches": "x"} if i else {})}
        if i < n - 1:
            layout[f"xaxis{k}"]["title"] = {"text": ""}
        layout[f"yaxis{k}"] = {**lay.get("yaxis", {}), "domain": domain, "anchor": f"x{k}"}
        if shows_legend:  # under the band's tick labels (about 26 px), across the width
            legend = {**lay.get("legend", {}), **LEGEND_BELOW}
            layout[f"legend{k}"] = {**legend, "y": domain[0] - 26 / plot_px, "yanchor": "top"}
        else:
            for trace in data[len(data) - len(traces):]:
                trace["showlegend"] = False
        if lay.get("barmode"):
            layout["barmode"] = lay["barmode"]
        title = lay.get("title", {})
        if title.get("text"):
            layout["annotations"].append({"text": f"<b>{title['text']}</b>", "xref": "paper", "yref": "paper",
                                          "x": 0, "xanchor": "left", "y": top, "yanchor": "bottom",
                                          "showarrow": False, "font": {"size": FONT_SIZE, "color": TEXT_COLOR}})
        for kind in ("shapes", "annotations"):
            for item in lay.get(kind, []):
                item = dict(item)
                if item.get("xref") == "x":
                    item["xref"] = f"x{k}"
                if item.get("yref") == "y":
                    item["yref"] = f"y{k}"
                elif item.get("yref") == "paper":
                    item["yref"] = f"y{k} domain"
                layout[kind].append(item)
    return figure(data, layout)


def settled_pandas() -> None:
    """Wait until a pandas import that another thread has under way is whole. Plotly checks values against pandas
    whenever sys.modules holds it, even half-imported ("partially initialized module 'pandas' has no attribute
    'Series'"): on a fresh server, one session's table imports pandas while another's chart is built. An import
    statement for a module being imported elsewhere waits for it; when no one imports pandas this costs nothing."""
    if "pandas" in sys.modules:
        import pandas  # noqa: F401
