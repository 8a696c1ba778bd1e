"""Dropout masks on the CPU from 16 random bits per activation.

Plain form: ``F.dropout(y, p)`` (keep each activation with probability 1 - p, scale kept ones by 1 / (1 - p)).
PyTorch's CPU generator makes 64 bits at a time about ten times faster than it makes floats for bernoulli_ (1.5 ms
against 15 ms for the 1.3M activations of a side-by-side step). The drop probability is thus rounded to a multiple
of 2^-16 (0.1 -> 0.100006), and kept activations are scaled by 1 / (1 - that probability), so the layer's expected
output is unchanged.
"""

from __future__ import annotations

import math

import torch

_MASK_LEVELS = 1 << 16


def keep_threshold(p: float) -> tuple[int, float]:
    """An activation is kept where its 16 bits (as int16) are >= the threshold; and the keep scale 1 / (1 - p')
    for the drop probability p' = p rounded to a multiple of 2^-16."""
    threshold = round(p * _MASK_LEVELS)
    return threshold - (_MASK_LEVELS >> 1), _MASK_LEVELS / (_MASK_LEVELS - threshold)


def keep_bits(z: torch.Tensor, p: float, generator: torch.Generator) -> tuple[torch.Tensor, int, float]:
    """16 random bits per activation of z, as int16 shaped like z (channels-first order, whatever z's layout); an
    activation is kept where its bits are >= the threshold returned; and the keep scale (`keep_threshold`)."""
    words = torch.empty((z.numel() + 3) // 4, dtype=torch.int64).random_(-(1 << 63), None, generator=generator)
    bits = words.view(torch.int16)[: z.numel()].view(z.shape)  # uniform on [-2^15, 2^15)
    return (bits, *keep_threshold(p))


def layers_bits(shapes: list[tuple[int, ...]], generator: torch.Generator) -> list[torch.Tensor]:
    """Every layer's bits of one step in one draw, as int32 (what the compiled kernels compare): the same bits as
    `keep_bits` drawing layer after layer (each takes whole 64-bit words from the same stream), in two operations
    instead of several per layer."""
    sizes = [math.prod(shape) for shape in shapes]
    words = [(n + 3) // 4 for n in sizes]
    drawn = torch.empty(sum(words), dtype=torch.int64).random_(-(1 << 63), None, generator=generator)
    bits = drawn.view(torch.int16).to(torch.int32)
    out, start = [], 0
    for shape, n, w in zip(shapes, sizes, words, strict=True):
        out.append(bits[start:start + n].view(shape))
        start += 4 * w
    return out


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
