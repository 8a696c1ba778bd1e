"""Digit pairs: many classes from real handwriting, offline; no digit image in two splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ffviz.config import RunConfig
from ffviz.data import DATASETS, digit_pairs, digits, load_dataset


@pytest.mark.parametrize("name, n", [("digit-pairs-25", 5), ("digit-pairs-100", 10)])
def test_pairs_have_n_squared_balanced_classes_named_by_their_digits(name, n) -> None:
    s = load_dataset(name)
    k = n * n
    assert s.num_classes == k == DATASETS[name].num_classes
    assert s.class_names[0] == "00" and s.class_names[-1] == f"{n - 1}{n - 1}" and len(set(s.class_names)) == k
    assert s.train_x.shape[1:] == (1, 16, 16) and s.train_x.dtype == torch.float32
    for y in (s.train_y, s.val_y, s.test_y):
        counts = torch.bincount(y, minlength=k)
        assert counts.min() == counts.max() > 0  # every class, equally often
    assert len(s.train_y) == digit_pairs.TOTALS["train"] // k * k
    # normalised with the training pairs' statistics
    assert abs(s.train_x.mean().item()) < 1e-4 and abs(s.train_x.std().item() - 1) < 1e-2


def test_no_digit_image_sits_in_two_splits_and_the_label_reads_left_then_right() -> None:
    from sklearn.datasets import load_digits

    labels = np.asarray(load_digits().target)
    train_idx, val_idx, test_idx = digits.split_indices(labels)
    assert not (set(train_idx) & set(val_idx) or set(train_idx) & set(test_idx) or set(val_idx) & set(test_idx))
    rng = np.random.default_rng(0)
    pairs = train_idx[digit_pairs._draw_pairs(labels[train_idx], 10, 3, rng)]  # indices into all 1,797 digits
    assert set(pairs.ravel()) <= set(train_idx)
    assert [f"{labels[a]}{labels[b]}" for a, b in pairs[:12:3]] == ["00", "01", "02", "03"]
    strip = digit_pairs._strips(np.asarray(load_digits().images, dtype=np.float32), pairs[:1])[0]
    assert strip[:4].sum() == 0 and strip[12:].sum() == 0  # blank rows above and below the 8x16 pair
    assert np.array_equal(strip[4:12, :8], load_digits().images[pairs[0, 0]])


def test_the_same_pairs_whatever_the_run_seed_and_a_config_accepts_the_names() -> None:
    a = load_dataset("digit-pairs-25", seed=1)
    b = digit_pairs.load_digit_pairs(n_digits=5)
    assert torch.equal(a.test_x, b.test_x) and torch.equal(a.train_y, b.train_y)
    assert RunConfig(dataset="Digit_Pairs_100").dataset == "digit-pairs-100"
    with pytest.raises(ValueError, match="n_digits"):
        digit_pairs.load_digit_pairs(n_digits=11)
