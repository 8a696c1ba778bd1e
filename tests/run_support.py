"""A finished tiny run for app tests to open, copy or continue (classroom-mini on digits, on the CPU)."""

from __future__ import annotations

from pathlib import Path

from ffviz.config import RunConfig
from ffviz.method.trainer import Trainer
from ffviz.runner.run_writer import RunWriter
from ffviz.store.runs import new_run_dir


def finished_tiny_run(root: Path, **changes) -> Path:
    """Train classroom-mini into a new folder under root (changes override the config); returns the run folder."""
    cfg = RunConfig(**{**dict(preset="classroom-mini", epochs=1, batch_size=128, probe_size=8, device="cpu"),
                       **changes})
    run_dir = new_run_dir(root, cfg)
    assert Trainer(cfg, callbacks=[RunWriter(run_dir)]).fit() == "finished"
    return run_dir
