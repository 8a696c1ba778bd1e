"""How long a run will take on this machine, from the runs this machine has already trained.

    est = expected_seconds(recipe_config("classroom"), [Path("runs")], stated=STATED_SECONDS["classroom"])
    est.seconds, est.measured      # 14.2, True (from a run of the same shape); else the stated figure, False

A run's speed depends on the work per epoch (data, network, image size, batch size, mode, step) and on the machine:
so the estimate comes from the newest run in this machine's runs folder that has the same shape and has trained at
least one epoch. Shipped runs were trained elsewhere and are not read. Reads JSON only (no torch), so a page can
call it on every draw.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffviz.config import RunConfig
from ffviz.store.folder import RunFolder
from ffviz.store.runs import open_reader

# The config fields that set the work of an epoch; runs that agree on all of them run at the same speed here.
SPEED_FIELDS = ("dataset", "preset", "widths", "image_size", "channels", "batch_size", "mode", "ff_step", "cpu_kernels",
                "device", "eval_batch_size", "probe_size")
# What a run spends before its first epoch on a 2-core CPU: its process starting, torch importing, the data loading.
START_SECONDS = 3.0
# How many of the newest runs to read at most: a page draws this on every visit.
NEWEST = 40


@dataclass(frozen=True)
class Estimate:
    seconds: float
    measured: bool  # True: from a run this machine trained; False: the recipe's stated figure
    run_id: str | None = None  # the run it was measured on


def expected_seconds(cfg: RunConfig, roots: Iterable[Path], *, stated: float | None = None) -> Estimate | None:
    """Seconds from start to end of a run of ``cfg``: measured on a run of the same shape under ``roots`` (newest
    first), else ``stated`` (None when there is neither)."""
    want = _shape(cfg.to_dict())
    candidates = sorted((p for root in roots if Path(root).is_dir() for p in Path(root).iterdir()),
                        key=lambda p: p.name, reverse=True)[:NEWEST]
    for run_dir in candidates:
        per_epoch = _seconds_per_epoch(run_dir, want)
        if per_epoch is not None:
            return Estimate(seconds=START_SECONDS + per_epoch * cfg.epochs, measured=True, run_id=run_dir.name)
    return None if stated is None else Estimate(seconds=stated, measured=False)


def _shape(config: dict[str, Any]) -> tuple:
    return tuple(json.dumps(config.get(name), sort_keys=True) for name in SPEED_FIELDS)


def _seconds_per_epoch(run_dir: Path, want: tuple) -> float | None:
    """The run's training seconds per epoch (evaluation included), if it has the wanted shape and a trained epoch."""
    try:
        folder = RunFolder(run_dir)
        if _shape(open_reader(run_dir).config.to_dict()) != want:
            return None
        last = None
        with open(folder.log("epochs"), "rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    last = line
        record = json.loads(last) if last else None
        epoch, seconds = record.get("epoch"), record.get("time")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(epoch, int) or not isinstance(seconds, (int, float)) or epoch < 1 or seconds <= 0:
        return None
    return float(seconds) / epoch
