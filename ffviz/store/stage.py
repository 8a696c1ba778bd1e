"""Where a starting run is, between the server's launch and its first training batch: its folder's stage.json.

    write_stage(run_dir, "data")           # the run process: loading the data
    read_stage(run_dir)                    # {"stage": "data", "time": ..., "warm": True} or None
    stage_text(read_stage(run_dir))        # "loading the data" for the Train page

A Start used to show "starting" for seconds with no word on what was happening. Each party writes the stage it has
reached: the server when it hands the run to a process (a waiting warm one, or a fresh one that must import torch
first), the run process when it loads the data and when its network is built and the first batch is under way.
The page shows the newest; once batches are recorded they speak for themselves. Not part of a run's archive.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ffviz.store.folder import RunFolder
from ffviz.store.storage import atomic_write_json, read_json

STAGES: dict[str, str] = {
    "process": "starting the run's process (loading PyTorch)",
    "warm": "handing the run to a process that has PyTorch loaded already",
    "data": "loading the data",
    "first_batch": "building the network, checking it untrained, then the first batch",
}


def write_stage(run_dir: Path | str, stage: str, **extra: Any) -> None:
    """Record the stage a starting run has reached (one of STAGES); a folder that is gone is no error."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    try:
        atomic_write_json(RunFolder(run_dir).stage, {"stage": stage, "time": time.time(), **extra})
    except OSError:
        pass  # the folder was deleted under the run: its page is gone too


def read_stage(run_dir: Path | str) -> dict[str, Any] | None:
    try:
        data = read_json(RunFolder(run_dir).stage)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("stage") in STAGES else None


def stage_text(stage: dict[str, Any] | None, now: float | None = None) -> str | None:
    """One line for a person: the stage, and for how long it has lasted."""
    if stage is None:
        return None
    text = STAGES[stage["stage"]]
    t = stage.get("time")
    if isinstance(t, (int, float)):
        text += f" ({max(0.0, (now or time.time()) - t):.1f} s)"
    return text
