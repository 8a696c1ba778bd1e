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

from ffviz.method.architecture import validate_widths
from ffviz.method.fast.dropout import layers_bits
from ffviz.method.fast.pool import avg_pool2
from ffviz.method.model.layer import CAWConv, GoodnessSpec, assignment_of, temperature_of


@dataclass
class Assignments:
    """Every layer's assignment W, as a list and as one zero-padded tensor for the regularizers
    (ffviz.method.losses)."""

    w: list[torch.Tensor]  # per layer (C_l, K)
    padded: torch.Tensor | None  # (L, C_max, K) the same, rows beyond C_l zero; None for the static W (no terms)
    channels: torch.Tensor  # (L,) C_l


@dataclass
class LayerOut:
    index: int
    g: torch.Tensor  # (B, K) class goodness (logits)
    p: torch.Tensor  # (B, C) pooled per-channel goodness
    w: torch.Tensor  # (C, K) assignment used


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
        # assignments() lays every layer's W (C_l, K) into one zero-padded (L, C_max, K) tensor; these are the
        # rows of that tensor's (L * C_max, K) view that the layers' channels fill.
        sizes = [layer.conv.out_channels for layer in layers]
        self._sizes = sizes
        rows = torch.cat([torch.arange(c) + i * max(sizes) for i, c in enumerate(sizes)])
        self.register_buffer("_pad_rows", rows, persistent=False)
        self.register_buffer("_sizes_t", torch.tensor(sizes), persistent=False)

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

    def set_fused(self, fused: bool, *, bf16: bool = False) -> None:
        """Run the layers' work after their convolutions with the compiled CPU kernels (ffviz.method.fast.kernels,
        prepared by the trainer), in the Forward-Forward modes; off: the eager forms. ``bf16``: their convolutions
        in bf16 where that is faster (CAWConv._fused)."""
        for layer in self.layers:
            layer.fused, layer.bf16 = fused, fused and bf16

    def assignments(self) -> Assignments:
        """All layers' W = softmax(A / T_e) in one batched softmax: the same values as each layer's `assignment()`
        (tests/test_step.py checks it), in a few operations for the whole network instead of several per layer."""
        layers = self.layers
        if not layers[0].learnable:
            return Assignments(w=[layer.W_static for layer in layers], padded=None, channels=self._sizes_t)
        spec = layers[0].spec
        a = torch.cat([layer.A for layer in layers])  # (sum C, K)
        log_t = torch.stack([layer.log_T for layer in layers])  # (L,)
        factor = torch.stack([layer.temp_factor for layer in layers])  # (L,) decay^epoch
        t = temperature_of(log_t, factor, spec)  # (L,) T_e, as each layer's temperature()
        w = assignment_of(a, t.repeat_interleave(self._sizes_t, output_size=a.shape[0])[:, None])  # (sum C, K)
        num_layers, cmax, k = self.num_layers, max(self._sizes), w.shape[1]
        padded = w.new_zeros(num_layers * cmax, k).index_copy(0, self._pad_rows, w).view(num_layers, cmax, k)
        return Assignments(w=list(w.split(self._sizes)), padded=padded, channels=self._sizes_t)

    def layers_forward(self, x: torch.Tensor, *, detach: bool = True,
                       ws: list[torch.Tensor] | None = None) -> Iterator[LayerOut]:
        """Run the layers in order, yielding each one's outputs as soon as it is computed.

        A generator, so that the memory-lean step can run a layer's backward before the next layer's forward.
        ``ws``: every layer's assignment, when computed already (`assignments`).
        """
        last = self.num_layers - 1
        bits = self._dropout_bits(x) if detach else None
        x = F.layer_norm(x, x.shape[1:])  # per sample over (C, H, W)
        h, g, p, w = self.layers[0](x, detach_input=detach, w=None if ws is None else ws[0],
                                    bits=None if bits is None else bits[0])
        yield LayerOut(0, g, p, w)
        x = h
        shortcut = h.detach() if detach else h
        for i in range(1, self.num_layers):
            h, g, p, w = self.layers[i](x, detach_input=detach, w=None if ws is None else ws[i],
                                        bits=None if bits is None else bits[i])
            yield LayerOut(i, g, p, w)
            q = (i - 1) % 4
            if q == 1:
                h = h + shortcut
                shortcut = h.detach() if detach else h
            elif q == 3 and i != last:
                h = torch.cat([h, shortcut], dim=1)
                shortcut = avg_pool2(h)
                if detach:
                    shortcut = shortcut.detach()
            x = h

    def _dropout_bits(self, x: torch.Tensor) -> list[torch.Tensor] | None:
        """Every layer's dropout bits for this step in one draw, when the layers use the compiled CPU kernels
        (the same bits the layers would draw one after another): None otherwise."""
        first = self.layers[0]
        if not (self.training and first.fused and first.dropout > 0 and first.generator is not None
                and x.device.type == "cpu"):
            return None
        shapes, (size_h, size_w) = [], x.shape[2:]
        for layer in self.layers:
            stride = layer.conv.stride[0]
            size_h, size_w = (size_h - 1) // stride + 1, (size_w - 1) // stride + 1  # 3x3, padding 1
            shapes.append((x.shape[0], layer.conv.out_channels, size_h, size_w))
        return layers_bits(shapes, first.generator)

    def forward(self, x: torch.Tensor, *, detach: bool = True, ws: list[torch.Tensor] | None = None
                ) -> list[LayerOut]:
        return list(self.layers_forward(x, detach=detach, ws=ws))
