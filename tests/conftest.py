"""Shared test set-up: a single CPU thread (fast, deterministic) and small random image batches."""

from __future__ import annotations

import os

# Before torch loads its OpenMP runtime (see ffviz/__init__.py for why).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
