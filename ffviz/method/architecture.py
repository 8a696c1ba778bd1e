"""The residual pattern's arithmetic, without torch: which stage widths make a network for some data, and how many
parameters that network has. The server checks a run against its limits with this before any process (or torch)
exists; tests/test_architecture.py holds it equal to the FFNet that ffviz/method/model builds.

    validate_widths((20, 40), num_classes=10, image_size=8)            # or ValueError naming the rule
    parameter_count(in_channels=1, num_classes=10, widths=(20, 40))    # 74789
"""

from __future__ import annotations


def validate_widths(widths: tuple[int, ...], num_classes: int, image_size: int) -> None:
    """Raise ValueError when the widths cannot form the residual pattern for this data."""
    if not widths:
        raise ValueError("widths must name at least one stage")
    for s in range(1, len(widths)):
        if widths[s] != 2 * widths[s - 1]:
            raise ValueError(f"widths={tuple(widths)}: each stage must be twice as wide as the one before (the concat "
                             f"shortcut doubles the width); got {widths[s]} after {widths[s - 1]}")
    if widths[0] % num_classes:
        raise ValueError(f"widths={tuple(widths)}: {widths[0]} channels cannot be split evenly among {num_classes} "
                         f"classes; use a multiple of {num_classes}")
    stride = 2 ** (len(widths) - 1)
    if image_size % stride:
        raise ValueError(f"image_size={image_size} must be divisible by {stride} for {len(widths)} stages")


def parameter_count(*, in_channels: int, num_classes: int, widths: tuple[int, ...], learnable: bool = True) -> int:
    """Parameters of the network: per layer a bias-free 3x3 conv (C_out, C_in, 3, 3), and with a learnable assignment
    its A (C_out, K) and log T (a scalar). Layer 0 maps the input to widths[0]; every stage has four layers at its
    width, and the concat shortcut that ends a stage makes the next stage's input twice as wide (METHOD.md)."""
    layers = [(in_channels, widths[0])] + [(w, w) for w in widths for _ in range(4)]
    return sum(c_out * c_in * 9 + (c_out * num_classes + 1 if learnable else 0) for c_in, c_out in layers)


def caw_parameter_count(*, in_channels: int, num_classes: int, image_size: int, widths: tuple[int, ...],
                        learnable: bool = True) -> int:
    """``parameter_count`` as the mode registry calls it (ffviz/modes.py): the image size does not change it."""
    return parameter_count(in_channels=in_channels, num_classes=num_classes, widths=widths, learnable=learnable)
