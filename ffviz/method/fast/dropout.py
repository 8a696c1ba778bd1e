"""Dropout masks on the CPU from 16 random bits per activation.

Plain form: ``F.dropout(y, p)`` (keep each activation with probability 1 - p, scale kept ones by 1 / (1 - p)).
PyTorch's CPU generator makes 64 bits at a time about ten times faster than it makes floats for bernoulli_ (1.5 ms
against 15 ms for the 1.3M activations of a side-by-side step). The drop probability is thus rounded to a multiple
of 2^-16 (0.1 -> 0.100006), and kept activations are scaled by 1 / (1 - that probability), so the layer's expected
output is unchanged.
"""

from __future__ import annotations

import torch

_MASK_LEVELS = 1 << 16


def keep_bits(z: torch.Tensor, p: float, generator: torch.Generator) -> tuple[torch.Tensor, int, float]:
    """16 random bits per activation of z, as int16 shaped like z (channels-first order, whatever z's layout); an
    activation is kept where its bits are >= the threshold returned; and the keep scale 1 / (1 - rounded p)."""
    threshold = round(p * _MASK_LEVELS)
    scale = _MASK_LEVELS / (_MASK_LEVELS - threshold)
    words = torch.empty((z.numel() + 3) // 4, dtype=torch.int64).random_(-(1 << 63), None, generator=generator)
    bits = words.view(torch.int16)[: z.numel()].view(z.shape)  # uniform on [-2^15, 2^15)
    return bits, threshold - (_MASK_LEVELS >> 1), scale


def keep_mask(z: torch.Tensor, p: float, generator: torch.Generator | None) -> tuple[torch.Tensor, float]:
    """A float mask shaped like z, `scale` = 1 / (1 - p) where the activation is kept, 0 where it is dropped; and
    that scale."""
    if z.device.type == "cpu" and generator is not None:
        bits, threshold, scale = keep_bits(z, p, generator)
        # comparisons straight into a float tensor: several times faster on the CPU than making a bool mask
        keep = torch.ge(bits, threshold, out=torch.empty(z.shape, dtype=torch.promote_types(z.dtype, torch.float32)))
        return keep.mul_(scale), scale
    keep = torch.empty_like(z).bernoulli_(1.0 - p, generator=generator)  # z's layout (channels-last on CUDA)
    return keep.mul_(1.0 / (1.0 - p)), 1.0 / (1.0 - p)
