"""Where a learned assignment can pay: the digits and the digit pairs side by side, static against the learnable
assignment with the paper's start and with each labelled departure, 3 seeds a bar; the sentence built from the runs;
and the chart. The Gap page's first section; the same words serve Home, Train's card and the README.

    cells = cells_of(runs)             # [Cell]: one per data set among CELL_DATASETS that has runs
    cells_sentence(cells)              # where learnable wins, where it loses, and why
    cells_figure(cells)                # one panel per cell, a bar per start, its seeds' spread and dots
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from ffviz import modes
from ffviz.comparison import ComparedRun
from ffviz.config import start_words
from ffviz.figures.style import empty_figure, figure
from ffviz.seed_groups import SeedGroup, group_by_seed, mean_sd, shape_key, vote_on_test

CELL_DATASETS = ("digits", "digit-pairs-25", "digit-pairs-100")

START_COLORS = {"paper's start": modes.color("learnable", "#1F77B4"), "random A": "#6BAED6",
                "A from partition": "#9467BD", "fixed T": "#17BECF"}


def start_name(g: SeedGroup) -> str:
    """"static", "paper's start", "random A 0.5", ...: how a group learns, in the chart's words."""
    return "static" if g.mode == "static" else start_words(g.config)


@dataclass
class Cell:
    dataset: str
    groups: list[SeedGroup]  # static first, then the learnable starts, the paper's first

    @property
    def num_classes(self) -> int:
        return {"digits": 10}.get(self.dataset) or int(self.dataset.rsplit("-", 1)[-1])

    @property
    def static(self) -> SeedGroup | None:
        return next((g for g in self.groups if g.mode == "static"), None)

    def steps(self) -> int:
        return max((r.epochs[-1].step for g in self.groups for r in g.runs if r.epochs), default=0)

    def title(self) -> str:
        name = "digits" if self.dataset == "digits" else "digit pairs"
        return f"{name}, {self.num_classes} classes ({self.steps():,} steps)"

    def gain(self, g: SeedGroup) -> tuple[float, float]:
        """Learnable minus static on the test vote: the mean of the seeds' differences (paired by seed where both
        have it) and their standard deviation."""
        static = self.static.runs if self.static else []
        base = {r.config.seed: v for r in static if (v := vote_on_test(r)) is not None}
        diffs = [v - base[r.config.seed] for r in g.runs
                 if (v := vote_on_test(r)) is not None and r.config.seed in base]
        return mean_sd(diffs)


START_FIELDS = ("mode", "init_noise", "init_partition", "learn_temperature", "temperature")


def _base(g: SeedGroup) -> tuple:
    """A group's settings without its mode and start: what the groups of one cell share."""
    return tuple(kv for kv in shape_key(g.config) if kv[0] not in START_FIELDS)


def cells_of(runs: Sequence[ComparedRun]) -> list[Cell]:
    """Per data set of CELL_DATASETS: its static group and one group per learnable start (the one with most seeds)."""
    out = []
    for dataset in CELL_DATASETS:
        groups = group_by_seed([r for r in runs if r.config.dataset == dataset and r.mode in ("static", "learnable")
                                and r.test is not None])
        # One cell per data set: the settings (all but the mode and the start) that the most starts share.
        bases = [_base(g) for g in groups]
        groups = [g for g, b in zip(groups, bases, strict=True) if b == max(bases, key=bases.count)] if bases else []
        best: dict[str, SeedGroup] = {}
        for g in groups:
            name = start_name(g)
            if name not in best or len(g.runs) > len(best[name].runs):
                best[name] = g
        order = sorted(best, key=lambda n: (n != "static", n != "paper's start", n))
        if "static" in best and len(best) > 1:
            out.append(Cell(dataset, [best[n] for n in order]))
    return out


def _pm(m: float, s: float) -> str:
    return f"{m:.1f} ± {s:.1f}%"


def cell_words(cell: Cell) -> str:
    """"digit pairs, 100 classes (500 steps): static 74.3 ± 0.5%, paper's start 1.0 ± 0.0% (chance), ..."."""
    parts = []
    for g in cell.groups:
        m, s = g.mean_sd(vote_on_test)
        chance = " (chance)" if m < 2 * 100 / cell.num_classes else ""
        parts.append(f"{start_name(g)} {_pm(m, s)}{chance}")
    return f"{cell.title()}: " + ", ".join(parts)


def cells_sentence(cells: Sequence[Cell]) -> str:
    """Where learnable wins, where it loses, and why, from the runs' test votes (mean ± sd over seeds)."""
    if not cells:
        return "No finished static and learnable runs on the digits or the digit pairs yet."
    rows = [(c, g, *c.gain(g)) for c in cells for g in c.groups if g.mode == "learnable"]
    wins = [(c, g, d, s) for c, g, d, s in rows if d == d and d > max(s, c.static.mean_sd(vote_on_test)[1],
                                                                       g.mean_sd(vote_on_test)[1])]
    stuck = [c for c in cells for g in c.groups if start_name(g) == "paper's start"
             and g.mean_sd(vote_on_test)[0] < 2 * 100 / c.num_classes]
    head = "; ".join(cell_words(c) for c in cells) + "."
    if wins:
        c, g, d, s = max(wins, key=lambda t: t[2])
        verdict = (f" A learned assignment pays on {c.title()} with {start_name(g)}: {d:+.1f} ± {s:.1f} points over "
                   "the fixed blocks, beyond the seeds' spread.")
    else:
        c, g, d, s = max(rows, key=lambda t: t[2] if t[2] == t[2] else -math.inf)
        verdict = (f" Learnable never beats the fixed blocks beyond the seeds' spread here; its best is "
                   f"{start_name(g)} on {c.title()}, {d:+.1f} ± {s:.1f} points against static.")
    why = ""
    if stuck:
        where = " and ".join(f"{c.num_classes} classes" for c in stuck)
        why = (f" With the paper's start it stays at chance on {where}: W starts uniform, so the convolutions get no "
               "gradient; A's gradient there is mostly batch noise and the learned temperature climbs to its ceiling, "
               "keeping W uniform (bench/REPORT.md, \"stuck start\"). A start that leaves the uniform point learns.")
    return head + verdict + why


def _wrap(name: str, width: int = 14) -> str:
    """A long start name on two lines ("A from<br>partition 2"), so that five bars' labels do not overlap."""
    if len(name) <= width or " " not in name:
        return name
    words = name.split(" ")
    cut = min(range(1, len(words)), key=lambda i: abs(len(" ".join(words[:i])) - len(name) / 2))
    return " ".join(words[:cut]) + "<br>" + " ".join(words[cut:])


def cells_figure(cells: Sequence[Cell], *, height: int = 440) -> go.Figure:
    """One panel per cell: a bar per start at the mean test vote over seeds, ± one sd, every seed a dot."""
    if not cells:
        return empty_figure("No finished runs on the digits or the digit pairs yet", height=height)
    traces, layout = [], {"height": height, "showlegend": False, "margin": {"t": 70, "b": 120}, "annotations": []}
    gap = 0.06
    width = (1 - gap * (len(cells) - 1)) / len(cells)
    for i, cell in enumerate(cells):
        ax = "" if i == 0 else str(i + 1)
        lo = i * (width + gap)
        stats = [g.mean_sd(vote_on_test) for g in cell.groups]
        names = [f"{_wrap(start_name(g))}<br><b>{m:.1f} ± {sd:.1f}</b><br>{len(g.runs)} seeds"
                 for g, (m, sd) in zip(cell.groups, stats, strict=True)]
        colors = [modes.color("static", "#FF7F0E") if g.mode == "static" else
                  next((c for k, c in START_COLORS.items() if start_name(g).startswith(k)), "#1F77B4")
                  for g in cell.groups]
        traces.append({"type": "bar", "x": names, "y": [m for m, _ in stats], "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                       "marker": {"color": colors, "opacity": 0.6},
                       "error_y": {"type": "data", "array": [s for _, s in stats], "visible": True, "width": 8,
                                   "color": "#222"},
                       "hovertemplate": "%{x}<br>mean %{y:.2f}% (± sd)<extra></extra>"})
        dots = [(n, v, r.config.seed) for n, g in zip(names, cell.groups, strict=True) for r in g.runs
                if (v := vote_on_test(r)) is not None]
        traces.append({"type": "scatter", "mode": "markers", "x": [d[0] for d in dots], "y": [d[1] for d in dots],
                       "text": [f"seed {d[2]}" for d in dots], "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                       "marker": {"size": 9, "color": "#111", "symbol": "circle-open", "line": {"width": 2}},
                       "hovertemplate": "%{x}<br>%{text}: %{y:.2f}%<extra></extra>"})
        layout[f"xaxis{ax}"] = {"domain": [lo, lo + width], "anchor": f"y{ax}", "tickangle": 0}
        layout[f"yaxis{ax}"] = {"anchor": f"x{ax}", "range": [0, 109], **({"title": {"text": "test accuracy (%)"}}
                                                                            if i == 0 else {})}
        layout["annotations"].append({"text": f"<b>{cell.title()}</b>", "xref": "paper", "yref": "paper",
                                      "x": lo + width / 2, "y": 1.08, "showarrow": False, "xanchor": "center"})
    layout["title"] = {"text": "Static against the learnable assignment, by start (test vote, mean ± sd over seeds)",
                       "y": 0.98}
    return figure(traces, layout)
