"""Batch-level data augmentation (airbench style): whole-batch tensor ops, no per-image Python loops.

Every function takes a ``(N, C, H, W)`` tensor on any device and an optional ``torch.Generator``. Random numbers
are drawn on the generator's device (CPU when none is given) and moved to the batch's device, so the same
generator seed gives the same augmentation whether the batch sits on the CPU or a GPU.

* `random_crop`: pad by ``pad`` pixels, then cut a window of the original size at a random per-sample offset,
  i.e. shift the content by -pad..pad pixels in x and y. Padding is ``"reflect"`` by default (as airbench: no
  artificial borders); ``padding_mode="zeros"`` pads with 0, which on normalised data is the dataset mean colour;
  ``padding_mode="constant"`` pads channel c with ``fill[c]``: ``fill = -mean/std`` is a black border, what a crop
  with zero padding before normalisation gives (torchvision's RandomCrop(padding=4) ahead of Normalize).
* `random_flip`: mirror each image left-right with probability 1/2.
* `augment_batch`: crop then flip, what the trainer applies to training batches when ``DataSplits.augment``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

PADDING_MODES = ("reflect", "zeros", "constant")


def _check_batch(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a batch tensor of shape (N, C, H, W); got {shape}")


def _draw_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def random_crop(x: torch.Tensor, pad: int = 4, generator: torch.Generator | None = None, *,
                padding_mode: str = "reflect", fill: Sequence[float] | None = None) -> torch.Tensor:
    """Random translation by up to ``pad`` pixels per sample: pad, then crop back to ``(H, W)``.

    Implemented as two ``gather`` calls with per-sample row/column offsets (index arithmetic), so the cost is a
    few whole-batch kernels whatever N is.
    """
    _check_batch(x)
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad must be a non-negative int; got {pad!r}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode={padding_mode!r} is not valid; choose one of {', '.join(PADDING_MODES)}")
    n, c, h, w = x.shape
    if pad == 0 or n == 0:
        return x.clone()
    if padding_mode == "reflect" and pad >= min(h, w):
        raise ValueError(f"pad={pad} must be smaller than the image size {min(h, w)} for padding_mode='reflect'")

    if (padding_mode == "constant") != (fill is not None):
        raise ValueError("fill (one value per channel) goes with padding_mode='constant', and only with it")
    if fill is not None and len(fill) != c:
        raise ValueError(f"fill needs one value per channel ({c}); got {len(fill)}")
    if padding_mode == "reflect":
        padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")  # (N, C, H+2p, W+2p)
    else:
        padded = F.pad(x, (pad, pad, pad, pad), mode="constant", value=0.0)
        if fill is not None:  # the border takes each channel's fill value, the image keeps its own
            border = torch.ones_like(padded[:1, :1])  # (1, 1, H+2p, W+2p)
            border[..., pad:pad + h, pad:pad + w] = 0
            padded = padded + border * torch.tensor(fill, dtype=x.dtype, device=x.device).view(1, c, 1, 1)
    dev = _draw_device(generator)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev).to(x.device)  # (N,) top offsets
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev).to(x.device)  # (N,) left offsets
    rows = (dy[:, None] + torch.arange(h, device=x.device))  # (N, H): padded row read by each output row
    cols = (dx[:, None] + torch.arange(w, device=x.device))  # (N, W)
    wp = padded.shape[-1]
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, wp))  # (N, C, H, W+2p): rows picked
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))  # (N, C, H, W): columns picked


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image horizontally (last axis) with probability 1/2, independently per sample."""
    _check_batch(x)
    flip = torch.rand(x.shape[0], generator=generator, device=_draw_device(generator)).to(x.device) < 0.5  # (N,)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def augment_batch(x: torch.Tensor, generator: torch.Generator | None = None, *, pad: int = 4,
                  padding_mode: str = "reflect", fill: Sequence[float] | None = None) -> torch.Tensor:
    """Random crop (``pad`` pixels, ``padding_mode``, ``fill``) followed by a random horizontal flip; returns a new
    tensor."""
    return random_flip(random_crop(x, pad, generator, padding_mode=padding_mode, fill=fill), generator)
