"""Channels-last convolutions on the CPU.

Plain form: ``conv(x)``. oneDNN's CPU convolutions run faster on channels-last tensors, while PyTorch's CPU
reductions and norms prefer channels-first ones. So when the trainer has put a conv's weight channels-last
(RunConfig.channels_last), the input is converted before the conv and its output back after it.
"""

from __future__ import annotations

import torch
from torch import nn


def conv(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """layer(x), channels-last inside the conv when its weight is channels-last on the CPU; channels-first out."""
    w = layer.weight
    if w.device.type == "cpu" and w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous():
        return layer(x.contiguous(memory_format=torch.channels_last)).contiguous()
    return layer(x)
