"""The residual Forward-Forward network ("ResNet-17" pattern, any number of stages).

    net = FFNet(in_channels=1, num_classes=10, widths=(20, 40, 80, 160))   # 17 CAW-Conv layers
    for out in net.layers_forward(x): ...                                  # one LayerOut per layer, in order

Layout for stage widths P = (P0, P1, ...), layers numbered from 0:
    layer 0: in -> P0;                         S = x
    each stage s, layers j = 1+4s .. 4+4s:
        q=0 (stride 2 when s > 0): 2*P[s-1] (or P0) -> P[s]
        q=1: then x = x + S; S = x             (parameter-free add shortcut)
        q=2
        q=3: then x = concat(x, S); S = avgpool2(x)   (width doubles to P[s+1]; skipped after the last layer)
Shortcuts carry detached tensors in the Forward-Forward modes, so no gradient crosses layers; in backprop mode
nothing is detached and the same network trains end to end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ffviz.model.layer import CAWConv, GoodnessSpec


@dataclass
class LayerOut:
    index: int
    g: torch.Tensor  # (B, K) class goodness (logits)
    p: torch.Tensor  # (B, C) pooled per-channel goodness
    w: torch.Tensor  # (C, K) assignment used


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


class FFNet(nn.Module):
    def __init__(self, *, in_channels: int, num_classes: int, widths: tuple[int, ...], learnable: bool = True,
                 dropout: float = 0.1, spec: GoodnessSpec = GoodnessSpec(), image_size: int | None = None) -> None:
        super().__init__()
        validate_widths(tuple(widths), num_classes, image_size or 2 ** (len(widths) - 1))
        self.num_classes = num_classes
        self.widths = tuple(widths)
        layers = [CAWConv(in_channels, widths[0], num_classes, dropout=dropout, learnable=learnable, spec=spec)]
        for s, width in enumerate(widths):
            for q in range(4):
                cin = width if q else (widths[0] if s == 0 else 2 * widths[s - 1])
                stride = 2 if (q == 0 and s > 0) else 1
                layers.append(CAWConv(cin, width, num_classes, stride=stride, dropout=dropout, learnable=learnable,
                                      spec=spec))
        self.layers = nn.ModuleList(layers)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def set_epoch(self, epoch: int) -> None:
        for layer in self.layers:
            layer.set_epoch(epoch)

    def set_generator(self, generator: torch.Generator | None) -> None:
        """Draw dropout masks from ``generator`` (None: PyTorch's global RNG, e.g. under torch.compile)."""
        for layer in self.layers:
            layer.generator = generator

    def layers_forward(self, x: torch.Tensor, *, detach: bool = True) -> Iterator[LayerOut]:
        """Run the layers in order, yielding each one's outputs as soon as it is computed.

        A generator, so that the memory-lean step can run a layer's backward before the next layer's forward.
        """
        last = self.num_layers - 1
        x = F.layer_norm(x, x.shape[1:])  # per sample over (C, H, W)
        h, g, p, w = self.layers[0](x, detach_input=detach)
        yield LayerOut(0, g, p, w)
        x = h
        shortcut = h.detach() if detach else h
        for i in range(1, self.num_layers):
            h, g, p, w = self.layers[i](x, detach_input=detach)
            yield LayerOut(i, g, p, w)
            q = (i - 1) % 4
            if q == 1:
                h = h + shortcut
                shortcut = h.detach() if detach else h
            elif q == 3 and i != last:
                h = torch.cat([h, shortcut], dim=1)
                shortcut = F.avg_pool2d(h, 2)
                if detach:
                    shortcut = shortcut.detach()
            x = h

    def forward(self, x: torch.Tensor, *, detach: bool = True) -> list[LayerOut]:
        return list(self.layers_forward(x, detach=detach))
