"""The probe images themselves, for showing one next to its goodness.

A run writes its probe images' pixels into its folder (``probes.npz``, see ffviz/runner/run_writer.py), so a page shows
them by reading one small npz (checked like every file of an upload, ffviz.store.untrusted.check_probes). Only for an
older run folder without that file, trained in this server's runs folder and whose dataset loads within the server's
limits, is the dataset loaded here (importing torch into the server, lazily, on that page only). An uploaded or
shipped run without probes.npz shows no images: its config could name any dataset at any size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from ffviz.config import RunConfig
from ffviz.data import MissingDataError, load_dataset
from ffviz.data.display import image_for_display
from ffviz.data.registry import DATASETS
from ffviz.server.limits import dataset_shape
from ffviz.store.folder import RunFolder
from ffviz.store.places import runs_root

PROBES = RunFolder.PROBES


@st.cache_resource(show_spinner=False, max_entries=64)
def _probe_pixels(path: str, signature: float) -> np.ndarray | None:
    del signature  # the cache key: a continued run may rewrite the file
    try:
        with np.load(path) as a:
            return np.asarray(a["pixels"])
    except (OSError, KeyError, ValueError):
        return None


@st.cache_resource(show_spinner="Loading the validation images…", max_entries=2)
def _validation_images(dataset: str, data_root: str, image_size: int, channels: int, seed: int):
    try:
        splits = load_dataset(dataset, root=data_root, image_size=image_size or None, channels=channels or None,
                              seed=seed, download=False)
    except (MissingDataError, ValueError, OSError):
        return None
    return splits.val_x.numpy().copy(), tuple(splits.mean), tuple(splits.std)


def validation_image(cfg: RunConfig, index: int, run_dir: Path | None = None) -> np.ndarray | None:
    """Pixels of validation image ``index`` of the run's dataset, or None when they are not here. ``run_dir``: the
    run's folder, whose probes.npz holds the probe images."""
    path = Path(run_dir) / PROBES if run_dir is not None else None
    if path is not None and path.exists():
        pixels = _probe_pixels(str(path), path.stat().st_mtime)
        if pixels is not None and 0 <= index < len(pixels):
            return pixels[index]
    if run_dir is None or not trained_here_within_limits(cfg, Path(run_dir)):
        return None
    found = _validation_images(cfg.dataset, cfg.data_root, cfg.image_size, cfg.channels, cfg.seed)
    if found is None or not 0 <= index < len(found[0]):
        return None
    x, mean, std = found
    return image_for_display(x[index], mean, std)


def trained_here_within_limits(cfg: RunConfig, run_dir: Path) -> bool:
    """Whether the server may load this run's dataset: the run's folder is in this server's runs folder (an upload,
    a shipped run or anything else is not) and its dataset, at its image size and channels, fits the server's
    limits max_image_size and max_dataset_bytes."""
    from pages.common.server import access_ui

    try:
        if Path(run_dir).resolve().parent != runs_root().resolve():
            return False
        channels, size, _ = dataset_shape(cfg)
    except (OSError, KeyError, ValueError):
        return False
    bound = access_ui.limits()
    info = DATASETS.get(cfg.dataset)
    images = info.images if info is not None else None
    return images is not None and size <= bound.max_image_size and (
        images * channels * size * size * 4 <= bound.max_dataset_bytes)
