"""Build the network a RunConfig describes."""

from __future__ import annotations

from torch import nn

from ffviz.config import RunConfig
from ffviz.method.model.layer import GoodnessSpec
from ffviz.method.model.network import FFNet
from ffviz.modes import get_mode
from ffviz.presets import resolve_widths


def goodness_spec(cfg: RunConfig) -> GoodnessSpec:
    return GoodnessSpec(mean=cfg.good_mean, max=cfg.good_max, min=cfg.good_min, temperature=cfg.temperature,
                        temp_decay=cfg.temp_decay, temp_min=cfg.temp_min, temp_max=cfg.temp_max)


def build_network(cfg: RunConfig, *, in_channels: int, num_classes: int, image_size: int) -> FFNet:
    """The network for cfg's preset/widths and mode: the mode's own builder (ffviz/modes.py)."""
    return get_mode(cfg.mode).build(cfg, in_channels=in_channels, num_classes=num_classes, image_size=image_size,
                                    widths=resolve_widths(cfg.preset, cfg.widths))


def caw_network(cfg: RunConfig, *, in_channels: int, num_classes: int, image_size: int, widths: tuple[int, ...],
                learnable: bool = True) -> FFNet:
    """The CAW-Conv residual network of the learnable, static (a fixed block assignment, no A) and backprop modes."""
    return FFNet(in_channels=in_channels, num_classes=num_classes, widths=widths, learnable=learnable,
                 dropout=cfg.dropout, spec=goodness_spec(cfg), image_size=image_size)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
