"""Runs that differ only by their seed, read as one: a group's mean and spread, the lineage's published figures, and
the Gap page's sentence. Plain data; the charts are in figures/seeds.py.

    groups = group_by_seed(runs)                  # [SeedGroup]: same settings but the seed, in first-seen order
    groups[0].values(lambda r: r.test.acc_alpha)  # one value per seed
    mean_sd(values)                               # (mean, standard deviation)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ffviz import modes
from ffviz.comparison import ComparedRun
from ffviz.config import RunConfig
from ffviz.store.runs import open_reader

# Settings that change what is recorded or where it runs, not what a run learns: runs differing only in these (and
# the seed) are seeds of one shape.
NOT_THE_SHAPE = ("seed", "device", "data_root", "probe_size", "batch_log_every", "eval_batch_size", "compile",
                 "channels_last")



def shape_key(cfg: RunConfig) -> tuple:
    """What a run's seeds share: its settings without the seed and the record-keeping ones."""
    d = cfg.to_dict()
    return tuple((k, repr(v)) for k, v in sorted(d.items()) if k not in NOT_THE_SHAPE)


def shape_of_dir(run_dir: Any) -> tuple | None:
    """`shape_key` of a run folder's config.json; None when it cannot be read."""
    try:
        return shape_key(open_reader(run_dir).config)
    except (OSError, ValueError, TypeError):
        return None


def seed_of_dir(run_dir: Any) -> int:
    try:
        return open_reader(run_dir).config.seed
    except (OSError, ValueError, TypeError):
        return 0


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample standard deviation; 0 for one value) of the finite values; (nan, nan) for none."""
    values = [float(v) for v in values if finite(v)]
    if not values:
        return float("nan"), float("nan")
    try:
        return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
    except OverflowError:  # finite but beyond a float once squared
        return float("nan"), float("nan")


@dataclass
class SeedGroup:
    """Runs with the same settings but the seed; ordered by seed."""

    runs: list[ComparedRun]

    @property
    def mode(self) -> str:
        return self.runs[0].mode

    @property
    def config(self) -> RunConfig:
        return self.runs[0].config

    @property
    def seeds(self) -> list[int]:
        return [r.config.seed for r in self.runs]

    @property
    def label(self) -> str:
        """The first seed's label, with the number of seeds when there are several."""
        n = len(self.runs)
        return self.runs[0].label if n == 1 else f"{self.runs[0].label} ({n} seeds)"

    def values(self, read: Callable[[ComparedRun], float | None]) -> list[float]:
        """``read`` of every seed, where it has a value."""
        return [v for r in self.runs if finite(v := read(r))]

    def mean_sd(self, read: Callable[[ComparedRun], float | None]) -> tuple[float, float]:
        return mean_sd(self.values(read))


def group_by_seed(runs: Sequence[ComparedRun]) -> list[SeedGroup]:
    """The runs grouped by shape (`shape_key`) and origin (an upload never joins a shipped run's seeds), groups in
    the order their first run appears, seeds in order."""
    groups: dict[tuple, list[ComparedRun]] = {}
    for r in runs:
        groups.setdefault((r.origin, shape_key(r.config)), []).append(r)
    return [SeedGroup(sorted(rs, key=lambda r: r.config.seed)) for rs in groups.values()]


def vote_on_test(r: ComparedRun) -> float | None:
    """The final test accuracy of a run's vote (alpha-weighted; original FF: its summed goodness); None unfinished
    (or not a finite number)."""
    return None if r.test is None or not finite(r.test.acc_alpha) else r.test.acc_alpha


def finite(v: Any) -> bool:
    """A number a figure can place: not None, not NaN, not infinite."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ------------------------------------------------------------------------------------------------ published
@dataclass(frozen=True)
class Published:
    method: str
    mode: str  # the ffviz mode that stands for it
    network: str  # the network behind the CIFAR-10 figure
    epochs: str
    cifar10: float | None
    mnist: float | None


# From METHOD.md ("Published results", "Original Forward-Forward"). Epochs are given only where our sources state
# them: the CAW-Conv figures come with the authors' 150-epoch recipe; the others' papers were not available to us.
PUBLISHED = (
    Published("FF (Hinton 2022)", "original-ff", "locally connected net (MNIST: MLP)", "epochs not in our sources",
              59.00, 98.69),
    Published("CwComp (AAAI 2024)", "static", "CNN", "epochs not in our sources", 78.11, 99.42),
    Published("DeeperForward (ICLR 2025)", "static", "ResNet-17", "epochs not in our sources", 86.22, 99.63),
    Published("CAW-Conv (2026)", "learnable", "ResNet-17", "150 epochs", 89.37, 99.74),
)
# Backprop has no CIFAR-10 figure in our sources; DeeperForward reports a backprop network at 58.01 on CIFAR-100
# (DeeperForward 53.09, CAW-Conv 63.52 there).
PUBLISHED_BACKPROP_NOTE = ("Backprop: no CIFAR-10 figure in our sources; DeeperForward reports a backprop network of "
                           "the same kind at 58.01% on CIFAR-100, where DeeperForward has 53.09% and CAW-Conv 63.52%.")


def shape_words(cfg: RunConfig) -> str:
    """e.g. "digits 8×8, the classroom network, 10 epochs"."""
    size = cfg.image_size or "default"
    net = f"widths {','.join(map(str, cfg.widths))}" if cfg.widths else f"the {cfg.preset} network"
    return f"{cfg.dataset} {size}×{size}, {net}, {cfg.epochs} epochs"


def gap_sentence(groups: Sequence[SeedGroup]) -> str:
    """One sentence saying what these runs show, and why: the modes by their test vote, mean ± spread over seeds."""

    done = [(g, *g.mean_sd(vote_on_test)) for g in groups if g.values(vote_on_test)]
    if not done:
        return "No finished runs to compare yet: the sentence comes when they have a test accuracy."
    parts = ", ".join(f"{modes.label(g.mode)} {m:.1f} ± {s:.1f}%" for g, m, s in
                      sorted(done, key=lambda t: -t[1]))
    seeds = sorted({len(g.values(vote_on_test)) for g, _, _ in done})
    head = (f"On these runs ({shape_words(done[0][0].config)}; {'/'.join(map(str, seeds))} seeds, test split): "
            f"{parts}.")
    by_mode = {g.mode: (m, s) for g, m, s in done}
    if "learnable" in by_mode and "static" in by_mode:
        (lm, ls), (sm, ss) = by_mode["learnable"], by_mode["static"]
        if lm - sm > max(ls, ss):
            return head + (" Here the learned assignment beats the fixed blocks by more than the seeds' spread.")
        return head + (" The learned assignment does not beat the fixed blocks here: W starts uniform, so every "
                       "class's goodness is equal and the convolutions get no gradient until A breaks the symmetry, "
                       "a slow start a short run on easy digits does not earn back; the published gap is on CIFAR "
                       "with the 17-layer network and 150 epochs.")
    return head


def group_rows(groups: Sequence[SeedGroup], threshold: float,
               epochs_to: Callable[[ComparedRun], Any], seconds: Callable[[ComparedRun], Any]) -> list[dict]:
    """The Gap page's table: per group, the seeds, the test vote's mean ± spread and each seed's, epochs to the
    threshold and seconds per epoch (means over the seeds that have them)."""

    rows = []
    for g in groups:
        m, s = g.mean_sd(vote_on_test)
        reach = g.values(epochs_to)
        secs = g.values(seconds)
        rows.append({"how it learns": modes.label(g.mode), "runs": g.label,
                     "seeds": ",".join(map(str, g.seeds)),
                     "test acc % (mean ± sd)": "–" if m != m else f"{m:.2f} ± {s:.2f}",
                     "test acc % per seed": ", ".join(f"{v:.1f}" for v in g.values(vote_on_test)),
                     f"epochs to {threshold:g}% (mean)": (f"{mean_sd(reach)[0]:.1f}" if reach else "not reached")
                     + ("" if len(reach) == len(g.runs) else f" ({len(g.runs) - len(reach)} never)"),
                     "s / epoch": round(mean_sd(secs)[0], 2) if secs else None})
    return rows
