"""Digit pairs: two of scikit-learn's 8x8 digits side by side, class = 10*left + right ("37" is a 3 then a 7).

Many classes from real handwriting, offline, in the same few seconds as the digits: with the digits 0..n-1 there
are n*n classes (n = 5 gives 25, n = 10 gives 100), and every class shares its left digit with n-1 others and its
right digit with n-1 more: the parts that a channel serving several classes could reuse.

The pairs are built from the FIXED digits split of ffviz.data.digits (stratified with its split seed): training
pairs only from the training digits, validation pairs only from the validation digits, test pairs only from the
test digits, so no digit image sits in two splits. Which pairs are drawn is fixed too (`PAIRS_SEED`), for the
same reason the digits split is: every run, whatever its seed, is trained and scored on the same images.

Each pair is an 8x16 strip placed in the middle rows of a 16x16 square (4 blank rows above and below), so the
network's square inputs hold both digits at their native resolution.
"""

from __future__ import annotations

import numpy as np

from ffviz.data import digits
from ffviz.data.splits import DataSplits, channel_stats, images_to_float
from ffviz.lazy import lazy_import

torch = lazy_import("torch")

PAIRS_SEED = 2222  # fixed on purpose, as digits.DIGITS_SPLIT_SEED
NATIVE_SIZE = 16
# Pairs per split, whatever the number of classes: about 4,000 training images (as many as MNIST's 1/15, enough for
# 40 a class at 100 classes), 1,000 validation and 2,000 test. Per class: the total divided by the classes.
TOTALS = {"train": 4000, "val": 1000, "test": 2000}


def class_name(label: int) -> str:
    """"37" for class 37 (left 3, right 7); "04" for class 4, so every name shows both digits."""
    return f"{label // 10}{label % 10}"


def pair_label(left: int, right: int) -> int:
    return 10 * left + right


def _draw_pairs(labels: np.ndarray, n_digits: int, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """(N, 2) indices into ``labels`` (left, right): ``per_class`` distinct pairs for every class (a, b), a, b < n."""
    by_digit = [np.flatnonzero(labels == d) for d in range(n_digits)]
    rows = []
    for a in range(n_digits):
        for b in range(n_digits):
            left, right = by_digit[a], by_digit[b]
            # Distinct (left image, right image) combinations, drawn without replacement from all of them.
            flat = rng.choice(len(left) * len(right), size=min(per_class, len(left) * len(right)), replace=False)
            rows.append(np.stack([left[flat // len(right)], right[flat % len(right)]], axis=1))
    return np.concatenate(rows)


def _strips(images: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(N, 16, 16) squares: the left and right 8x8 digits in rows 4..11."""
    out = np.zeros((len(pairs), NATIVE_SIZE, NATIVE_SIZE), dtype=np.float32)
    out[:, 4:12, :8] = images[pairs[:, 0]]
    out[:, 4:12, 8:] = images[pairs[:, 1]]
    return out


def load_digit_pairs(*, n_digits: int, image_size: int = NATIVE_SIZE, channels: int = 1) -> DataSplits:
    """Pairs of the digits 0..n_digits-1 (n_digits**2 classes), upsampled/normalised like the digits."""
    from sklearn.datasets import load_digits

    if not 2 <= n_digits <= 10:
        raise ValueError(f"n_digits must be in 2..10 (the digits 0..n-1 make n*n classes); got {n_digits}")
    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float32)  # (1797, 8, 8), values 0..16
    labels = np.asarray(bunch.target, dtype=np.int64)
    split_idx = dict(zip(("train", "val", "test"), digits.split_indices(labels), strict=True))
    rng = np.random.default_rng(PAIRS_SEED)
    k = n_digits * n_digits
    xs, ys = {}, {}
    for split, idx in split_idx.items():
        pairs = idx[_draw_pairs(labels[idx], n_digits, max(1, TOTALS[split] // k), rng)]  # digit-image indices
        strips = torch.from_numpy(_strips(images, pairs)).unsqueeze(1)  # (N, 1, 16, 16) values 0..16
        xs[split] = images_to_float(strips, image_size=image_size, channels=1, mean=(0.0,), std=(1.0,), scale=16.0)
        ys[split] = torch.from_numpy(labels[pairs[:, 0]] * 10 + labels[pairs[:, 1]])
    mean, std = channel_stats(xs["train"])  # the training pairs' statistics only: nothing leaks from val/test
    for split in xs:
        xs[split] = (xs[split] - mean[0]) / std[0]
        if channels == 3:
            xs[split] = xs[split].expand(-1, 3, -1, -1).contiguous()
    if channels == 3:
        mean, std = mean * 3, std * 3
    # Labels 10a+b are renumbered 0..K-1 in reading order (for n < 10 the labels 10a+b leave gaps); the class names
    # keep the pair's digits.
    order = [pair_label(a, b) for a in range(n_digits) for b in range(n_digits)]
    lookup = torch.full((100,), -1, dtype=torch.int64)
    lookup[torch.tensor(order)] = torch.arange(k)
    return DataSplits(name=f"digit-pairs-{k}", train_x=xs["train"], train_y=lookup[ys["train"]],
                      val_x=xs["val"], val_y=lookup[ys["val"]], test_x=xs["test"], test_y=lookup[ys["test"]],
                      num_classes=k, class_names=tuple(class_name(v) for v in order), mean=mean, std=std,
                      augment=False)
