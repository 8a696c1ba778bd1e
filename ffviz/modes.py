"""The training modes, as a registry: a plain dict from a mode's name to its entry, like ffviz/regularizers.py.

    from ffviz.modes import MODES, get_mode
    get_mode("static").label                                   # "static partition": the one label of a mode
    get_mode(cfg.mode).build(cfg, in_channels=1, num_classes=10, image_size=8, widths=(20, 40))   # its network
    get_mode(cfg.mode).count(in_channels=1, num_classes=10, image_size=8, widths=(20, 40))        # its parameters

Each entry says how the app names and draws the mode (label, short label, colour, the Mode field's help), how it
builds its network and counts that network's parameters (the server's limits count before any torch exists), which
loss trains it, whether it has an assignment W to show, and its place in the lineage the Gap page sets side by side.
The Mode field (its choices and labels), the CLI's ``--mode``, the Train page, the Runs table, the Compare and Gap
pages (their pickers, bars and colours), the network builder, the trainer's loss and the limits iterate this dict, so
a new mode is one entry here plus its model file (tests/test_new_mode.py follows one through).

``network`` and ``parameters`` name functions as "module:function", imported only when called: the config and the
pages read this registry without importing torch, and the method's model files may import the config.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Loss = Literal["ff", "backprop", "network"]
LINEAGE_LAST = 100  # a new mode's place in the lineage unless it says otherwise: after the four below


def _resolve(ref: str) -> Callable[..., Any]:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Mode:
    """How one mode learns, builds its network and shows in the app."""

    label: str  # its one label, in pickers, tables, legends and prose: "learnable (CAW-Conv)"
    description: str  # what it is, in the Mode field's help (the CLI's --help, the Train page's tooltip)
    network: str  # "module:function": (cfg, *, in_channels, num_classes, image_size, widths, **options) -> network
    parameters: str  # "module:function": (*, in_channels, num_classes, image_size, widths, **options) -> int
    options: dict[str, Any] = field(default_factory=dict)  # keywords both of them take (learnable=False for static)
    loss: Loss = "ff"  # ff: the per-layer CAW-Conv loss; backprop: end to end; network: the network's own loss(x, y)
    assignment: bool = True  # it has an assignment W (the Assignments, Regularizers and Layer pages draw it)
    short: str = ""  # a narrow chart's bar label: "static"; default: its key
    color: str = "#7F7F7F"  # its colour wherever runs are drawn by mode
    lineage: int = LINEAGE_LAST  # its place on the Gap page, the lineage's order

    def build(self, cfg: Any, *, in_channels: int, num_classes: int, image_size: int,
              widths: tuple[int, ...]) -> Any:
        """The network of this mode for cfg on data of this shape (imports torch: the run's process only)."""
        return _resolve(self.network)(cfg, in_channels=in_channels, num_classes=num_classes, image_size=image_size,
                                      widths=widths, **self.options)

    def count(self, *, in_channels: int, num_classes: int, image_size: int, widths: tuple[int, ...]) -> int:
        """The parameters of that network, by arithmetic (what the server's limits count)."""
        return int(_resolve(self.parameters)(in_channels=in_channels, num_classes=num_classes, image_size=image_size,
                                             widths=widths, **self.options))


_CAW = "ffviz.method.model.build:caw_network"
_CAW_COUNT = "ffviz.method.architecture:caw_parameter_count"

MODES: dict[str, Mode] = {
    "learnable": Mode("learnable (CAW-Conv)", "CAW-Conv's learnable channel-class assignment", _CAW, _CAW_COUNT,
                      short="learnable", color="#1F77B4", lineage=2),
    "static": Mode("static partition", "fixed contiguous channel blocks per class (CwComp/DeeperForward)", _CAW,
                   _CAW_COUNT, options={"learnable": False}, short="static", color="#FF7F0E", lineage=1),
    "backprop": Mode("backprop", "the same network trained end to end", _CAW, _CAW_COUNT, loss="backprop",
                     short="backprop", color="#555555", lineage=3),
    "original-ff": Mode("original FF (Hinton)", "Hinton's Forward-Forward (2022), an MLP with the label embedded, "
                        "positive and negative data", "ffviz.method.model.original_ff:build_mlp",
                        "ffviz.method.model.original_ff:mlp_parameters", loss="network", assignment=False,
                        short="original FF", color="#2CA02C", lineage=0),
}


def get_mode(name: str) -> Mode:
    """The registry's entry for ``name``; an unknown name raises a KeyError that lists the valid ones."""
    try:
        return MODES[name]
    except KeyError:
        raise KeyError(f"unknown mode {name!r}; valid: {', '.join(MODES)}") from None


def label(name: str) -> str:
    """A mode's one label; an unknown name (an older or a foreign run's) as it is."""
    return MODES[name].label if name in MODES else name


def short_label(name: str) -> str:
    return (MODES[name].short or name) if name in MODES else name


def color(name: str, default: str) -> str:
    return MODES[name].color if name in MODES else default


def lineage() -> tuple[str, ...]:
    """The modes in the lineage's order (the Gap page's): where Forward-Forward started, the static partition, the
    learnable assignment, backprop, then any newer mode."""
    return tuple(sorted(MODES, key=lambda name: MODES[name].lineage))


def help_text() -> str:
    """The Mode field's help: each mode and what it is."""
    return "How the network learns. " + "; ".join(f"{name}: {m.description}" for name, m in MODES.items()) + "."
