"""The run configuration: every knob of a run, stated once, typed, validated at the edge.

    from ffviz.config import RunConfig
    cfg = RunConfig(preset="classroom", epochs=5)          # raises ValueError naming a bad field
    cfg = RunConfig.from_dict(json.load(open("config.json")))

The same object travels with every run folder and checkpoint, feeds the CLI's flags (one flag per field,
help text from the field's docstring below) and the app's widgets, so a run can always be reproduced.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ffviz.data.registry import resolve_name
from ffviz.presets import get_preset

MODES = ("learnable", "static", "backprop")
ORTH_SCALINGS = ("mean", "authors")
CONTRIBUTION_SIGNALS = ("train", "val")
DEVICES = ("auto", "cpu", "cuda", "mps")
FF_STEPS = ("fused", "lean")


def _f(default: Any, help: str, *, choices: tuple[str, ...] | None = None, group: str = "training") -> Any:
    """A dataclass field whose help text and choices the CLI and the app read."""
    meta = {"help": help, "group": group}
    if choices is not None:
        meta["choices"] = choices
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    # --- data ---
    dataset: str = _f("digits", "Dataset name (see `python -m ffviz datasets`).", group="data")
    data_root: str = _f("data", "Folder where downloaded datasets live.", group="data")
    image_size: int = _f(0, "Input size in pixels; 0 = the dataset's default (16 for digits, 32 for MNIST/CIFAR).",
                         group="data")
    channels: int = _f(0, "Input channels for digits (1 or 3); 0 = the dataset's own.", group="data")

    # --- network ---
    preset: str = _f("classroom", "Architecture preset (see `python -m ffviz presets`).", group="network")
    widths: tuple[int, ...] = _f((), "Stage widths overriding the preset's, e.g. 20,40,80,160; each stage doubles.",
                                 group="network")
    mode: str = _f("learnable", "How the network learns. learnable: CAW-Conv's learnable channel-class "
                   "assignment; static: fixed contiguous channel blocks per class (CwComp/DeeperForward); backprop: "
                   "the same network trained end to end.", choices=MODES, group="network")
    dropout: float = _f(0.1, "Dropout after each conv's ReLU.", group="network")

    # --- goodness and assignment ---
    good_mean: float = _f(0.94, "Goodness coefficient a on the spatial mean: p = a*mean + b*max - d*min.",
                          group="goodness")
    good_max: float = _f(0.06, "Goodness coefficient b on the spatial max.", group="goodness")
    good_min: float = _f(0.05, "Goodness coefficient d on the spatial min (subtracted).", group="goodness")
    temperature: float = _f(10.0, "Initial assignment temperature T0; log T is learnable.", group="goodness")
    temp_decay: float = _f(0.995, "Per-epoch multiplicative decay of the temperature: T_e = T * decay^epoch.",
                           group="goodness")
    temp_min: float = _f(0.1, "Lower clamp of exp(log T) before the decay.", group="goodness")
    temp_max: float = _f(100.0, "Upper clamp of exp(log T) before the decay.", group="goodness")
    label_smoothing: float = _f(0.1, "Label smoothing of every layer's cross-entropy.", group="goodness")

    # --- regularizers ---
    lambda_entropy: float = _f(1e-2, "Weight of the entropy penalty on W (sharper assignments).", group="regularizers")
    lambda_orth: float = _f(1e-3, "Weight of the orthogonality penalty on W's class columns.", group="regularizers")
    orth_scaling: str = _f("mean", "Scaling of the orthogonality penalty. mean: mean((G-I)^2); authors: also "
                           "divided by K^2*C as in the authors' code, which makes the term ~1e-8 of the loss.",
                           choices=ORTH_SCALINGS, group="regularizers")
    orth_warmup_epochs: int = _f(50, "Epochs of linear warm-up of the orthogonality weight (0 = none).",
                                 group="regularizers")

    # --- layer contributions ---
    contribution_signal: str = _f("train", "Loss that sets the layer weights alpha = softmax(-L/tau): the epoch's "
                                  "training loss (authors' code) or the validation loss (paper's text).",
                                  choices=CONTRIBUTION_SIGNALS, group="contributions")
    contribution_tau: float = _f(1.0, "Temperature tau of the layer-weight softmax.", group="contributions")

    # --- optimisation ---
    epochs: int = _f(20, "Number of epochs; the cosine schedule spans them.")
    batch_size: int = _f(32, "Training mini-batch size.")
    eval_batch_size: int = _f(1000, "Batch size for evaluation (no gradients).")
    lr: float = _f(0.08, "Peak learning rate (AdamW, one parameter group per layer).")
    lr_min: float = _f(0.006, "Learning rate at the end of the cosine schedule.")
    weight_decay: float = _f(5e-4, "AdamW weight decay (also on A and log T).")
    grad_clip: float = _f(1.0, "Gradient-norm clip per layer (0 = off).")
    seed: int = _f(2222, "Seed for initialisation, shuffling and dropout.")
    ff_step: str = _f("fused", "How a training step runs. fused: all local losses summed, one backward; lean: "
                      "each layer's backward right after its forward (least memory). Same gradients.",
                      choices=FF_STEPS, group="speed")

    # --- hardware and records ---
    device: str = _f("auto", "Where to train; auto picks CUDA, then MPS, then the CPU.", choices=DEVICES,
                     group="hardware")
    bf16: bool = _f(True, "Use bf16 autocast on CUDA (ignored elsewhere).", group="hardware")
    channels_last: bool = _f(True, "Channels-last memory format: activations and weights on CUDA, the conv weights "
                             "on the CPU.", group="hardware")
    compile: bool = _f(False, "On CUDA, capture the whole training step (forward, backward, clipping, AdamW) as one "
                       "CUDA graph: about 2x faster on the paper network (bench/REPORT.md). Ignored elsewhere.",
                       group="hardware")
    probe_size: int = _f(200, "Validation images whose per-layer goodness is stored every epoch (for the views).",
                         group="records")
    batch_log_every: int = _f(1, "Write a batch record every N batches.", group="records")

    def __post_init__(self) -> None:
        # Coerce list -> tuple so configs read back from JSON compare equal to the originals.
        if isinstance(self.widths, list):
            object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        for name, choices in (("mode", MODES), ("orth_scaling", ORTH_SCALINGS),
                              ("contribution_signal", CONTRIBUTION_SIGNALS), ("device", DEVICES),
                              ("ff_step", FF_STEPS)):
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"{name}={value!r} is not valid; choose one of {', '.join(choices)}")
        # Names are checked here, at the edge, so a typo fails before any data is loaded.
        object.__setattr__(self, "dataset", resolve_name(self.dataset))
        get_preset(self.preset)
        _positive(self, "epochs", "batch_size", "eval_batch_size", "temperature", "temp_decay", "temp_min",
                  "temp_max", "contribution_tau", "lr", "batch_log_every")
        _non_negative(self, "lambda_entropy", "lambda_orth", "weight_decay", "grad_clip", "lr_min",
                      "orth_warmup_epochs", "probe_size", "image_size", "channels")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing={self.label_smoothing} must be in [0, 1)")
        if self.temp_min > self.temp_max:
            raise ValueError(f"temp_min={self.temp_min} must not exceed temp_max={self.temp_max}")
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min={self.lr_min} must not exceed lr={self.lr}")
        if self.channels not in (0, 1, 3):
            raise ValueError(f"channels={self.channels} must be 0 (dataset default), 1 or 3")
        if any(w <= 0 for w in self.widths):
            raise ValueError(f"widths={self.widths} must all be positive")
        if self.mode == "backprop" and self.ff_step == "lean":
            raise ValueError("ff_step='lean' applies to Forward-Forward modes; use ff_step='fused' with mode=backprop")

    # --- conversions ---
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build from plain data (JSON, a checkpoint, URL parameters); unknown keys are an error naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(unknown)}; valid fields: {', '.join(sorted(known))}")
        return cls(**{k: _coerce(k, v) for k, v in d.items()})

    def replace(self, **changes: Any) -> RunConfig:
        return RunConfig.from_dict({**self.to_dict(), **changes})

    def diff(self, other: RunConfig) -> dict[str, tuple[Any, Any]]:
        """Fields that differ: name -> (mine, theirs)."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


def field_info() -> list[dataclasses.Field]:
    """The config fields in declaration order, for building CLI flags and widgets."""
    return list(dataclasses.fields(RunConfig))


_TYPES = {f.name: f.type for f in dataclasses.fields(RunConfig)}


def _coerce(name: str, value: Any) -> Any:
    """Turn plain data (strings from a URL or CLI, lists from JSON) into the field's type, or say what is wrong."""
    kind = _TYPES[name]
    try:
        if kind == "bool":
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            return bool(value)
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind == "float":
            out = float(value)
            if not math.isfinite(out):
                raise ValueError
            return out
        if kind == "tuple[int, ...]":
            if isinstance(value, str):
                value = [v for v in value.replace(" ", "").split(",") if v]
            return tuple(int(v) for v in value)
        return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a valid {kind}") from None


def _positive(cfg: RunConfig, *names: str) -> None:
    for n in names:
        if not getattr(cfg, n) > 0:
            raise ValueError(f"{n}={getattr(cfg, n)} must be > 0")


def _non_negative(cfg: RunConfig, *names: str) -> None:
    for n in names:
        if not getattr(cfg, n) >= 0:
            raise ValueError(f"{n}={getattr(cfg, n)} must be >= 0")
