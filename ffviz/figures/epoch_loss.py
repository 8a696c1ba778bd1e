"""Each layer's training loss by epoch: the Train page's loss chart for a run that kept no batch records (one
imported from the authors' logs, which hold one mean loss per layer and epoch)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from ffviz.figures.style import empty_figure, epoch_axis, figure, layer_colors, layer_name
from ffviz.records import EpochRecord


def has_epoch_losses(epochs: Sequence[EpochRecord]) -> bool:
    """Some epoch holds a finite training loss for some layer."""
    return any(isinstance(v, (int, float)) and math.isfinite(v) for e in epochs for v in (e.train_ce or ()))


def epoch_loss_figure(epochs: Sequence[EpochRecord], *, height: int = 380) -> go.Figure:
    title = "Loss of each layer (mean of each epoch)"
    rows = [e for e in epochs if e.train_ce]
    if not rows:
        return empty_figure("No training loss recorded", height=height, title=title)
    n = len(rows[0].train_ce)
    colors = layer_colors(n)
    traces: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines+markers", "x": [e.epoch for e in rows],
         "y": [e.train_ce[i] if len(e.train_ce) > i else None for e in rows], "name": layer_name(i),
         "line": {"color": colors[i], "width": 2}, "marker": {"size": 4},
         "hovertemplate": f"{layer_name(i)}<br>epoch %{{x}}<br>CE %{{y:.3f}}<extra></extra>"} for i in range(n)]
    return figure(traces, {"title": title, "height": height, "xaxis": epoch_axis(rows[-1].epoch),
                           "yaxis": {"title": {"text": "training cross-entropy"}}})
