"""Shared test set-up: a single CPU thread (fast, deterministic), small random image batches, and an empty runs
folder for the app tests."""

from __future__ import annotations

import os

# Before torch loads its OpenMP runtime: tests share the cores with the runs and browsers they start, and sleeping
# threads keep that from collapsing (ffviz/runner/threads.py says why). Runs the tests launch inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# No spare run processes (ffviz/runner/warm.py) for the many managers tests make: each would import torch in a process
# of its own. tests/test_warm.py turns them on where they are the subject.
os.environ.setdefault("FFVIZ_WARM_SPARES", "0")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture
def images(gen: torch.Generator) -> torch.Tensor:
    """(4, 1, 8, 8) random images."""
    return torch.randn(4, 1, 8, 8, generator=gen)


@pytest.fixture
def labels() -> torch.Tensor:
    return torch.tensor([0, 3, 7, 9])


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    """An empty runs folder for the app (the shipped runs where they ship); the server's RunManager for it is shut
    down afterwards, so no run outlives its test."""
    monkeypatch.setenv("FFVIZ_RUNS_DIR", str(tmp_path))
    monkeypatch.delenv("FFVIZ_SHIPPED_DIR", raising=False)
    yield tmp_path
    from pages.common.frame import state

    state._manager(str(tmp_path)).shutdown()
