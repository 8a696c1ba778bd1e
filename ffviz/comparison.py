"""Several runs side by side, as data: what a comparison reads of each run, the settings in which runs differ, and
the gap's numbers (epochs to a threshold, seconds per epoch). The charts that draw them are in figures/compare.py.

    runs = [ComparedRun.of(open_reader(d)) for d in dirs]
    rows = config_diff_rows(runs)            # only the fields that differ, one row per field
    table = gap_rows(runs, threshold=95)

No plotting here: the pages' tables and the figures both read these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ffviz import modes
from ffviz.config import RunConfig
from ffviz.records import EpochRecord, TestRecord


@dataclass
class ComparedRun:
    """What the comparison reads of one run: a label, its epoch records, its test record and config."""

    label: str
    epochs: Sequence[EpochRecord]
    config: RunConfig = field(default_factory=RunConfig)
    test: TestRecord | None = None
    train_time: float | None = None  # seconds, from the run's meta
    # where it comes from, for seed groups: "shipped", "local", or "uploaded:<owner>" (an upload never joins the
    # seeds of a run it does not come with: a copy of a shipped run with another seed and a NaN stays apart)
    origin: str = ""

    @classmethod
    def of(cls, reader: Any, label: str | None = None) -> ComparedRun:
        """From a RunReader or a RunReader; the label defaults to the run's name."""
        meta = reader.meta
        return cls(label=label or meta.get("name") or reader.dir.name, epochs=list(reader.epochs),
                   config=reader.config, test=reader.test, train_time=meta.get("train_time"))

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def trained(self) -> list[EpochRecord]:
        """The epochs after the untrained epoch 0."""
        return [e for e in self.epochs if e.epoch > 0]

def config_diff_rows(runs: Sequence[ComparedRun]) -> list[dict[str, Any]]:
    """One row per config field whose value is not the same in every run: {"setting": name, label1: v1, ...}.
    Labels that repeat get a number so that every run keeps its own column."""
    labels = unique_labels([r.label for r in runs])
    dicts = [r.config.to_dict() for r in runs]
    rows = []
    for name in dicts[0] if dicts else []:
        values = [d[name] for d in dicts]
        if any(v != values[0] for v in values[1:]):
            rows.append({"setting": name, **{lab: _cell(v) for lab, v in zip(labels, values, strict=True)}})
    return rows


def unique_labels(labels: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return out


def _cell(v: Any) -> str:
    """Table cells of one type (Arrow needs a column of one type): 0.01, true, 20,40, (preset's)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v)) if v else "(preset's)"
    return str(v)

def epochs_to_reach(epochs: Sequence[EpochRecord], threshold: float) -> int | None:
    """The first epoch whose α-weighted validation accuracy reaches ``threshold`` %, or None if none does."""
    return next((e.epoch for e in epochs if e.epoch > 0 and e.acc_alpha >= threshold), None)


def seconds_per_epoch(epochs: Sequence[EpochRecord]) -> float | None:
    """Mean wall seconds of a trained epoch, evaluation included (from the recorded per-epoch seconds, else from
    the training clock)."""
    timed = [e.epoch_seconds for e in epochs if e.epoch > 0 and e.epoch_seconds]
    if timed:
        return sum(timed) / len(timed)
    trained = [e for e in epochs if e.epoch > 0]
    if trained and trained[-1].time > 0:
        return trained[-1].time / trained[-1].epoch
    return None

def gap_rows(runs: Sequence[ComparedRun], threshold: float) -> list[dict[str, Any]]:
    """The gap in one table: per run, the test accuracy, epochs to the threshold, seconds per epoch."""
    rows = []
    for r in runs:
        n = epochs_to_reach(r.epochs, threshold)
        s = seconds_per_epoch(r.epochs)
        rows.append({"how it learns": gap_label(r), "run": r.label,
                     "test acc % (vote)": None if r.test is None else round(r.test.acc_alpha, 2),
                     "best val acc %": round(max((e.acc_alpha for e in r.trained), default=0.0), 2),
                     f"epochs to {threshold:g}%": "not reached" if n is None else str(n),
                     "s / epoch": None if s is None else round(s, 2),
                     "epochs": r.epochs[-1].epoch if r.epochs else 0})
    return rows


def gap_label(r: ComparedRun) -> str:
    """How a run learns, in the gap view's words."""
    return modes.label(r.mode)

