"""Build the network a RunConfig describes."""

from __future__ import annotations

from torch import nn

from ffviz.config import RunConfig
from ffviz.method.model.layer import GoodnessSpec
from ffviz.method.model.network import FFNet
from ffviz.presets import resolve_widths


def goodness_spec(cfg: RunConfig) -> GoodnessSpec:
    return GoodnessSpec(mean=cfg.good_mean, max=cfg.good_max, min=cfg.good_min, temperature=cfg.temperature,
                        temp_decay=cfg.temp_decay, temp_min=cfg.temp_min, temp_max=cfg.temp_max,
                        init_noise=cfg.init_noise, init_partition=cfg.init_partition,
                        learn_temperature=cfg.learn_temperature)


def build_network(cfg: RunConfig, *, in_channels: int, num_classes: int, image_size: int) -> FFNet:
    """The network for cfg's preset/widths and mode (static mode has a fixed block assignment, no A; original-ff is
    Hinton's MLP, ffviz/method/model/original_ff.py)."""
    if cfg.mode == "original-ff":
        from ffviz.method.model.original_ff import OriginalFFNet, hidden_sizes

        return OriginalFFNet(in_features=in_channels * image_size * image_size, num_classes=num_classes,
                             hidden=hidden_sizes(resolve_widths(cfg.preset, cfg.widths)))  # type: ignore[return-value]
    return FFNet(in_channels=in_channels, num_classes=num_classes, widths=resolve_widths(cfg.preset, cfg.widths),
                 learnable=cfg.mode != "static", dropout=cfg.dropout, spec=goodness_spec(cfg), image_size=image_size)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
