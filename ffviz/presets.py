"""Named architecture presets: a plain dict from a name to its stage widths, listed by the CLI and the app.

    python -m ffviz presets

Every preset is the same kind of network (METHOD.md's "ResNet-17" pattern): one stem layer, then four CAW-Conv
layers per stage, a parameter-free add shortcut after the second and a concat (width doubling) after the fourth.
So a preset with S stages has 1 + 4*S layers, and each stage must be twice as wide as the one before.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    widths: tuple[int, ...]
    description: str

    @property
    def num_layers(self) -> int:
        return 1 + 4 * len(self.widths)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("classroom-mini", (10, 20), "9 layers, 10/20 channels: a digits epoch in well under a second on a "
                                          "laptop CPU. For live demos."),
        Preset("classroom", (20, 40), "9 layers, 20/40 channels: a few seconds per digits epoch on a 2-core CPU, "
                                      "about 97% test accuracy within a minute."),
        Preset("side-by-side", (20, 40, 80, 160), "ResNet-17 pattern at 20/40/80/160 channels: the published "
                                                  "CPU side-by-side set-up on digits 16x16."),
        Preset("resnet17", (100, 200, 400, 800), "The paper's ResNet-17 (CIFAR-10/100, MNIST, F-MNIST), ~30.7M "
                                                 "parameters on CIFAR-10."),
        Preset("resnet17-x3", (300, 600, 1200, 2400), "The paper's three-times-wider ResNet-17 (CH x3)."),
        Preset("resnet17-tiny", (200, 400, 800, 1600), "The paper's ResNet-17 widths for Tiny-ImageNet."),
    )
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}") from None


def resolve_widths(preset: str, widths: tuple[int, ...] = ()) -> tuple[int, ...]:
    """The stage widths a run uses: the explicit override if given, else the preset's."""
    return tuple(widths) if widths else get_preset(preset).widths
