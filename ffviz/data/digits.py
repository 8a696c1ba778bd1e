"""scikit-learn's bundled 8x8 handwritten digits: the default dataset, small enough for a CPU and never downloaded.

1,797 images with values 0..16, upsampled bilinearly (``align_corners=False``) to ``image_size`` (default 16).
The split is stratified, 1,257 train / 180 validation / 360 test, and FIXED: it is drawn with
`DIGITS_SPLIT_SEED`, not the run seed, so every run, whatever its seed, is trained and scored on the same
images and runs stay comparable. Normalisation uses the training split's per-channel mean/std.
"""

from __future__ import annotations

import numpy as np

from ffviz.data.splits import DataSplits, channel_stats, images_to_float
from ffviz.lazy import lazy_import

torch = lazy_import("torch")  # imported when a dataset is loaded, not when the registry is (a server never does)

DIGITS_SPLIT_SEED = 2222  # fixed on purpose: the split must not depend on the run seed (see module docstring)
N_TEST = 360
N_VAL = 180
DEFAULT_IMAGE_SIZE = 16


def split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fixed stratified (train, val, test) index arrays of the 1,797 digits (also what digit pairs draw from)."""
    from sklearn.model_selection import train_test_split  # local import: sklearn is only needed for this dataset

    idx = np.arange(len(labels))
    rest, test_idx = train_test_split(idx, test_size=N_TEST, stratify=labels, random_state=DIGITS_SPLIT_SEED)
    train_idx, val_idx = train_test_split(rest, test_size=N_VAL, stratify=labels[rest],
                                          random_state=DIGITS_SPLIT_SEED)
    return train_idx, val_idx, test_idx


def load_digits_splits(*, image_size: int = DEFAULT_IMAGE_SIZE, channels: int = 1) -> DataSplits:
    """Load, upsample, split and normalise sklearn's digits. ``channels`` 3 repeats the grey channel."""
    from sklearn.datasets import load_digits  # local import: sklearn is only needed for this dataset

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float32)  # (1797, 8, 8), values 0..16
    labels = np.asarray(bunch.target, dtype=np.int64)  # (1797,)
    train_idx, val_idx, test_idx = split_indices(labels)

    # Upsample all 1,797 images at once in [0, 1]; normalise afterwards with statistics of the train split only,
    # so nothing about the validation/test images leaks into preprocessing.
    x = images_to_float(torch.from_numpy(images).unsqueeze(1), image_size=image_size, channels=1,
                        mean=(0.0,), std=(1.0,), scale=16.0)  # (1797, 1, S, S)
    train_idx_t, val_idx_t, test_idx_t = (torch.from_numpy(np.sort(i)) for i in (train_idx, val_idx, test_idx))
    mean, std = channel_stats(x[train_idx_t])
    x = (x - mean[0]) / std[0]
    if channels == 3:
        x = x.expand(-1, 3, -1, -1).contiguous()  # (1797, 3, S, S): same grey in every channel
        mean, std = mean * 3, std * 3

    y = torch.from_numpy(labels)
    return DataSplits(
        name="digits",
        train_x=x[train_idx_t], train_y=y[train_idx_t],
        val_x=x[val_idx_t], val_y=y[val_idx_t],
        test_x=x[test_idx_t], test_y=y[test_idx_t],
        num_classes=10,
        class_names=tuple(str(d) for d in range(10)),
        mean=mean, std=std,
        augment=False,
    )
