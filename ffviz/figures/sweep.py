"""A sweep's grid as heatmaps, from its runs' records: what each setting does to accuracy and to the assignment.

    outcome = run_outcome(reader.epochs, reader.test, "finished")        # one run's numbers
    cells = summarize_cells(len(spec.cells()), {cell: [outcome, ...]})   # mean and spread over seeds
    fig = sweep_heatmap(spec.axes, cells, "accuracy")                    # one of METRICS

A cell fills in as soon as one of its seeds has finished; its text says how many seeds are in. Each cell carries an
invisible marker whose ``customdata`` is the cell's index, so a click on it can open that cell's run (Plotly does not
report clicks on heatmap cells themselves).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ffviz.figures.style import colorscale, figure
from ffviz.records import EpochRecord, TestRecord
from ffviz.store.folder import ACTIVE

REACH = 95.0  # "epochs to 95%": the first epoch whose α-weighted validation accuracy reaches this


@dataclass
class RunOutcome:
    """One run of a sweep, reduced to the numbers its cell shows (None: not there yet)."""

    status: str
    epochs_done: int
    accuracy: float | None  # α-weighted test accuracy at the last epoch (finished runs only), %
    sharpness: float | None  # mean over layers of the mean strongest-class weight, at the last epoch
    orthogonality: float | None  # mean over layers of the raw O(W) in the last epoch's training
    epochs_to: int | None  # first epoch with α-weighted validation accuracy >= REACH; None if never


def run_outcome(epochs: Sequence[EpochRecord], test: TestRecord | None, status: str, *,
                reach: float = REACH) -> RunOutcome:
    trained = [e for e in epochs if e.epoch > 0]
    last = epochs[-1] if epochs else None
    done = status == "finished" and test is not None
    orth = [e.train_terms["orth"] for e in trained if e.train_terms and "orth" in e.train_terms]
    return RunOutcome(
        status=status, epochs_done=last.epoch if last else 0,
        accuracy=float(test.acc_alpha) if done else None,
        sharpness=float(np.mean(last.w_sharpness)) if done and last else None,
        orthogonality=float(np.mean(orth[-1])) if done and orth else None,
        epochs_to=next((e.epoch for e in trained if e.acc_alpha >= reach), None) if done else None)


@dataclass
class CellSummary:
    """A cell over its seeds: means (and the accuracy's spread) of the finished runs."""

    index: int
    runs: int  # seeds with a run started
    finished: int
    active: int  # queued or training
    accuracy: float | None
    accuracy_spread: float | None  # sample standard deviation over seeds (0 with one seed)
    sharpness: float | None
    orthogonality: float | None
    epochs_to: float | None  # mean over the seeds that reached it
    reached: int  # seeds that reached REACH


def _mean(values: Sequence[float | None]) -> float | None:
    xs = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(xs)) if xs else None


def summarize_cells(num_cells: int, outcomes: Mapping[int, Sequence[RunOutcome]]) -> list[CellSummary]:
    out = []
    for cell in range(num_cells):
        runs = list(outcomes.get(cell, ()))
        done = [r for r in runs if r.accuracy is not None]
        accs = [r.accuracy for r in done]
        reached = [r.epochs_to for r in done if r.epochs_to is not None]
        out.append(CellSummary(
            index=cell, runs=len(runs), finished=len(done),
            active=sum(r.status in ACTIVE for r in runs),
            accuracy=_mean(accs), accuracy_spread=float(np.std(accs, ddof=1)) if len(accs) > 1 else
            (0.0 if accs else None),
            sharpness=_mean([r.sharpness for r in done]), orthogonality=_mean([r.orthogonality for r in done]),
            epochs_to=_mean(reached), reached=len(reached)))
    return out


@dataclass(frozen=True)
class Metric:
    title: str
    value: Callable[[CellSummary], float | None]
    text: Callable[[CellSummary], str]
    scale: str  # ColorBrewer sequential scale
    reverse: bool = False  # True: smaller is better, drawn darker


def _acc_text(c: CellSummary) -> str:
    if c.accuracy is None:
        return ""
    spread = f" ± {c.accuracy_spread:.1f}" if c.finished > 1 else ""
    return f"{c.accuracy:.1f}{spread}"


METRICS: dict[str, Metric] = {
    "accuracy": Metric("Final α-ensemble test accuracy (%), mean ± spread over seeds", lambda c: c.accuracy,
                       _acc_text, "Greens"),
    "sharpness": Metric("Assignment sharpness (mean of max_k W)", lambda c: c.sharpness,
                        lambda c: "" if c.sharpness is None else f"{c.sharpness:.3f}", "Blues"),
    "orthogonality": Metric("Orthogonality penalty O(W), raw (lower: classes share fewer channels)",
                            lambda c: c.orthogonality,
                            lambda c: "" if c.orthogonality is None else f"{c.orthogonality:.3g}", "Purples",
                            reverse=True),
    "epochs_to": Metric(f"Epochs to {REACH:g}% validation accuracy", lambda c: c.epochs_to,
                        lambda c: "" if c.finished == 0 else ("never" if c.epochs_to is None else
                                                              f"{c.epochs_to:.1f}"), "Oranges", reverse=True),
}


def _state_text(c: CellSummary, total: int) -> str:
    if c.finished:
        return f"{c.finished}/{total} seeds"
    if c.active:
        return "training…"
    return "waiting" if c.runs == 0 else "not finished"


def sweep_heatmap(axes: Sequence[Any], cells: Sequence[CellSummary], metric: str, *, seeds: int,
                  height: int = 360) -> go.Figure:
    """The grid of one metric: rows the first axis's values, columns the last axis's (one row for a 1-axis sweep).

    ``axes``: the sweep's Axis objects (``.field``, ``.values``). Empty cells stay white, labelled with their state.
    """
    try:
        m = METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown sweep metric {metric!r}; valid metrics: {', '.join(METRICS)}") from None
    cols = axes[-1]
    rows = axes[0] if len(axes) > 1 else None
    nrows, ncols = (len(rows.values) if rows else 1), len(cols.values)
    z = np.full((nrows, ncols), np.nan)
    text = [["" for _ in range(ncols)] for _ in range(nrows)]
    index = np.zeros((nrows, ncols), dtype=int)
    for c in cells:
        i, j = divmod(c.index, ncols)
        v = m.value(c)
        z[i, j] = np.nan if v is None else v
        text[i][j] = "<br>".join(t for t in (m.text(c), _state_text(c, seeds)) if t)
        index[i, j] = c.index
    x = [_label(v) for v in cols.values]
    y = [_label(v) for v in rows.values] if rows else [""]
    scale = colorscale(m.scale)
    if m.reverse:
        scale = [[1 - s, col] for s, col in reversed(scale)]
    finite = z[np.isfinite(z)]
    traces: list[dict[str, Any]] = [{
        "type": "heatmap", "z": [[None if not math.isfinite(v) else float(v) for v in row] for row in z],
        "x": x, "y": y, "text": text,
        "colorscale": scale, "xgap": 3, "ygap": 3, "hoverongaps": True,
        "zmin": float(finite.min()) if finite.size else 0.0, "zmax": float(finite.max()) if finite.size else 1.0,
        "colorbar": {"thickness": 12}, "customdata": index,
        "hovertemplate": f"{cols.field} = %{{x}}" + (f"<br>{rows.field} = %{{y}}" if rows else "")
                         + "<br>%{text}<extra></extra>",
    }, {
        # the click targets: one invisible marker per cell, customdata = the cell's index
        "type": "scatter", "mode": "markers", "x": [x[j] for i in range(nrows) for j in range(ncols)],
        "y": [y[i] for i in range(nrows) for j in range(ncols)], "customdata": index.ravel().tolist(),
        "showlegend": False, "hovertemplate": "click to open this cell's run<extra></extra>",
        "marker": {"size": 40, "opacity": 0.0, "color": "#000"},
        "selected": {"marker": {"opacity": 0.0}}, "unselected": {"marker": {"opacity": 0.0}},
    }]
    # The cells' words as annotations, not the heatmap's texttemplate: an empty cell ("waiting") has text too.
    # (on a category axis an annotation sits at the category's index: a label such as "0.1" would read as a number)
    notes = [{"x": j, "y": i, "text": text[i][j], "showarrow": False, "xref": "x", "yref": "y",
              "font": {"size": 14, "color": "#FFFFFF" if _dark(z[i, j], finite, m.reverse) else "#31333F"}}
             for i in range(nrows) for j in range(ncols) if text[i][j]]
    layout = {"title": m.title, "height": height, "dragmode": False, "clickmode": "event+select", "annotations": notes,
              "xaxis": {"title": {"text": cols.field}, "type": "category", "showgrid": False, "zeroline": False},
              "yaxis": {"title": {"text": rows.field if rows else ""}, "type": "category", "showgrid": False,
                        "zeroline": False, "autorange": "reversed", "showticklabels": rows is not None},
              "margin": {"l": 90, "t": 60}}
    return figure(traces, layout)


def _dark(v: float, finite: np.ndarray, reverse: bool) -> bool:
    """True when a cell's colour is in the dark part of its scale (white text reads better there)."""
    if not math.isfinite(v) or finite.size == 0 or finite.max() == finite.min():
        return False
    frac = (v - finite.min()) / (finite.max() - finite.min())
    return (1 - frac if reverse else frac) > 0.6


def _label(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
