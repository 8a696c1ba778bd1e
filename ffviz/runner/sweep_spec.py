"""A sweep's spec: the swept settings (at most two axes) and the seeds over a base config, checked once.

    spec = SweepSpec(base=recipe_config("classroom"), axes=(parse_axis("lambda_entropy=0,0.01"),), seeds=(1, 2))
    spec.cells(), spec.config(cell, seed), spec.num_runs

Pure data: nothing on disk (ffviz/runner/sweep_store.py), no claims (ffviz/runner/sweep_leases.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ffviz.config import FIELDS, RunConfig

MAX_AXES = 2  # a heatmap has two axes; more would need slices of the grid
# The most runs (cells x seeds) one sweep may hold: it bounds what a page, a link or the CLI can ask of one sweep.
MAX_SWEEP_RUNS = 36
_NOT_SWEPT = ("seed", "data_root", "device")  # seeds are the other dimension; where data lives is the server's


class SweepError(ValueError):
    """A sweep that cannot be made or read; the message names what was wrong and what to do."""


# ----------------------------------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class Axis:
    """One swept setting: a RunConfig field and the values it takes, in order."""

    field: str
    values: tuple[Any, ...]

    @property
    def label(self) -> str:
        return self.field


def parse_axis(text: str) -> Axis:
    """``"lambda_entropy=0,0.01,0.1"`` -> Axis; values are checked against the field when the spec is built."""
    name, sep, values = str(text).partition("=")
    name = name.strip().replace("-", "_")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not name or not items:
        raise SweepError(f"--grid {text!r}: write it as FIELD=V1,V2,... (e.g. lambda_entropy=0,0.01,0.1)")
    return Axis(name, tuple(items))


def parse_seeds(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"1,2"`` -> (1, 2); every seed a whole number >= 0, none twice."""
    items = [s.strip() for s in text.split(",") if s.strip()] if isinstance(text, str) else list(text)
    try:
        seeds = tuple(int(s) for s in items)
    except (TypeError, ValueError):
        raise SweepError(f"seeds={text!r}: give whole numbers separated by commas, e.g. 1,2,3") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise SweepError(f"seeds={text!r}: give at least one seed, each >= 0 and none twice")
    return seeds


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep trains: ``base`` with each cell's values on top, once per seed."""

    base: RunConfig
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    name: str = "sweep"
    max_runs: int = field(default=MAX_SWEEP_RUNS, compare=False)  # a bound on creation, not part of the sweep

    def __post_init__(self) -> None:
        if not 1 <= len(self.axes) <= MAX_AXES:
            raise SweepError(f"a sweep has 1 or {MAX_AXES} swept settings (--grid); got {len(self.axes)}")
        names = [a.field for a in self.axes]
        for name in names:
            if name not in FIELDS:
                raise SweepError(f"--grid {name}: not a setting; valid settings: {', '.join(sorted(FIELDS))}")
            if name in _NOT_SWEPT:
                raise SweepError(f"--grid {name}: {name} cannot be swept"
                                 + (" (use --seeds for seeds)" if name == "seed" else ""))
        if len(set(names)) != len(names):
            raise SweepError(f"each setting may be swept once; got {', '.join(names)}")
        object.__setattr__(self, "seeds", parse_seeds(self.seeds))
        # Each value as the config holds it (0 and 0.0 are one value), checked against its field's rules.
        axes = []
        for axis in self.axes:
            try:
                values = tuple(getattr(self.base.replace(**{axis.field: v}), axis.field) for v in axis.values)
            except ValueError as e:
                raise SweepError(f"--grid {axis.field}: {e}") from None
            if len(set(map(repr, values))) != len(values):
                raise SweepError(f"--grid {axis.field}: a value is listed twice")
            axes.append(Axis(axis.field, values))
        object.__setattr__(self, "axes", tuple(axes))
        if self.num_runs > self.max_runs:
            raise SweepError(f"{len(self.cells())} cells x {len(self.seeds)} seeds = {self.num_runs} runs; one sweep "
                             f"may hold at most {self.max_runs}. Use fewer values or seeds.")
        for cell in range(len(self.cells())):  # every cell's config must validate together (e.g. lr_min <= lr)
            try:
                self.config(cell, self.seeds[0])
            except ValueError as e:
                raise SweepError(f"the cell {self.cells()[cell]} is not a valid config: {e}") from None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a.values) for a in self.axes)

    @property
    def num_runs(self) -> int:
        return len(self.cells()) * len(self.seeds)

    def cells(self) -> list[dict[str, Any]]:
        """Every combination of the axes' values, row-major (the last axis varies fastest)."""
        return [dict(zip((a.field for a in self.axes), combo, strict=True))
                for combo in itertools.product(*(a.values for a in self.axes))]

    def config(self, cell: int, seed: int) -> RunConfig:
        return self.base.replace(**self.cells()[cell], seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base.to_dict(),
                "axes": [{"field": a.field, "values": list(a.values)} for a in self.axes],
                "seeds": list(self.seeds), "cells": self.cells()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSpec:
        return cls(base=RunConfig.from_dict(d["base"]), axes=tuple(Axis(a["field"], tuple(a["values"]))
                                                                  for a in d["axes"]),
                   seeds=tuple(d["seeds"]), name=d.get("name", "sweep"), max_runs=10**6)  # a written sweep stands


def cell_label(values: dict[str, Any]) -> str:
    """``{"lambda_entropy": 0.01, "lambda_orth": 0.0}`` -> ``"lambda_entropy=0.01, lambda_orth=0"``."""
    return ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
