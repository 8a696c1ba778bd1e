"""The probe images themselves, for showing one next to its goodness (runs record only their indices)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ffviz.config import RunConfig
from ffviz.data import MissingDataError, load_dataset
from ffviz.ui_state import image_for_display


@st.cache_resource(show_spinner="Loading the validation images…", max_entries=2)
def _validation_images(dataset: str, data_root: str, image_size: int, channels: int, seed: int):
    try:
        splits = load_dataset(dataset, root=data_root, image_size=image_size or None, channels=channels or None,
                              seed=seed, download=False)
    except (MissingDataError, ValueError, OSError):
        return None
    return splits.val_x.numpy().copy(), tuple(splits.mean), tuple(splits.std)


def validation_image(cfg: RunConfig, index: int) -> np.ndarray | None:
    """Pixels of validation image ``index`` of the run's dataset, or None when its files are not here."""
    found = _validation_images(cfg.dataset, cfg.data_root, cfg.image_size, cfg.channels, cfg.seed)
    if found is None or not 0 <= index < len(found[0]):
        return None
    x, mean, std = found
    return image_for_display(x[index], mean, std)
