"""A dataset's normalised image back to the pixels a person sees: what a run writes into probes.npz and a page
shows beside the image's goodness. numpy only.

    pixels = image_for_display(x, data.mean, data.std)     # (C, H, W) float -> (H, W) or (H, W, 3) uint8
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def image_for_display(x: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalised (C, H, W) image back to uint8 (H, W) or (H, W, 3) pixels."""
    x = np.asarray(x, dtype=np.float32)
    m = np.asarray(mean, dtype=np.float32)[:, None, None]
    s = np.asarray(std, dtype=np.float32)[:, None, None]
    px = np.clip((x * s + m) * 255.0, 0, 255).astype(np.uint8)
    return px[0] if px.shape[0] == 1 else px.transpose(1, 2, 0)
