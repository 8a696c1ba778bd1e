"""Recipes: named bundles of config values, applied before explicit settings (CLI flags, app widgets).

    cfg = recipe_config("paper-cifar10", epochs=3)

The paper recipes follow METHOD.md (150 epochs, batch 128, AdamW 0.08 -> 0.006 cosine, weight decay 5e-4, clip 1.0 per
layer, dropout 0.1, seed 2222); every one uses the orthogonality scaling "mean" unless told otherwise.
"""

from __future__ import annotations

from typing import Any

from ffviz.config import RunConfig

_PAPER = dict(epochs=150, batch_size=128, lr=0.08, lr_min=0.006, weight_decay=5e-4, grad_clip=1.0, dropout=0.1,
              seed=2222, eval_batch_size=1000, batch_log_every=20, probe_size=100,
              compile=True)  # the captured CUDA step; ignored on the CPU
RECIPES: dict[str, dict[str, Any]] = {
    "paper-cifar10": dict(_PAPER, dataset="cifar10", preset="resnet17"),
    "paper-cifar100": dict(_PAPER, dataset="cifar100", preset="resnet17"),
    "paper-cifar100-x3": dict(_PAPER, dataset="cifar100", preset="resnet17-x3"),
    # The authors' code pools goodness with (0.97, 0.03, 0.03) on MNIST and (0.94, 0.06, 0.05) elsewhere.
    "paper-mnist": dict(_PAPER, dataset="mnist", preset="resnet17", good_mean=0.97, good_max=0.03, good_min=0.03),
    "paper-fashion-mnist": dict(_PAPER, dataset="fashion-mnist", preset="resnet17"),
    "paper-tiny-imagenet": dict(_PAPER, dataset="tiny-imagenet", preset="resnet17-tiny"),
    # The authors' CPU comparison on the built-in digits.
    "side-by-side": dict(dataset="digits", image_size=16, channels=1, preset="side-by-side", batch_size=32,
                         epochs=20),
    # For a classroom: about 98% test accuracy on digits in 12 epochs, under a minute on a 2-core laptop CPU.
    # T0 = 1 instead of 10: the assignment leaves its uniform start within two epochs instead of five, which is
    # what a one-minute demo needs (bench/REPORT.md compares both); everything else is the paper's recipe.
    "classroom": dict(dataset="digits", image_size=16, channels=1, preset="classroom", batch_size=32, epochs=12,
                      temperature=1.0),
}


def recipe_config(name: str, **overrides: Any) -> RunConfig:
    """The RunConfig of a recipe, with overrides on top."""
    try:
        values = RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; valid recipes: {', '.join(RECIPES)}") from None
    return RunConfig.from_dict({**values, **overrides})
