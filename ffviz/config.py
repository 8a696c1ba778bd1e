"""The run configuration: every knob of a run, stated once, typed, validated at the edge.

    from ffviz.config import RunConfig
    cfg = RunConfig(preset="classroom", epochs=5)          # raises ValueError naming a bad field
    cfg = open_reader(run_dir).config                   # as a run folder holds it (ffviz/store/runs.py)

The same object travels with every run folder and checkpoint, feeds the CLI's flags (one flag per field,
help text from the field's docstring below) and the app's widgets, so a run can always be reproduced.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

from ffviz import modes
from ffviz.data.registry import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, resolve_name
from ffviz.presets import get_preset

MODES = tuple(modes.MODES)  # the registry's names (ffviz/modes.py), in its order
ORTH_SCALINGS = ("mean", "authors")
CONTRIBUTION_SIGNALS = ("train", "val")
DEVICES = ("auto", "cpu", "cuda", "mps")
FF_STEPS = ("fused", "lean")
CPU_KERNELS = ("fused", "eager")
CHANNELS = (0, 1, 3)
MAX_SEED = 2**31 - 1

# Plain dataclasses, not pydantic: the config needs no dependency beyond the standard library (pydantic is not among
# requirements.txt's pins), and the frozen dataclass is what every run folder and checkpoint carries as config.json.
# Each field states its facts once, in its metadata (``_f``); the CLI flags, the app's widgets, share links, the
# range checks below and the live controls all read them from here.


def _f(default: Any, help: str, *, label: str | None = None, short: str | None = None, group: str = "training",
       range: tuple[float, float | None] | None = None, also: tuple[Any, ...] = (), link_max: float | None = None,
       options: tuple[float, ...] | None = None, choices: tuple[Any, ...] | None = None,
       choice_labels: dict[str, str] | None = None, live: bool = False) -> Any:
    """A dataclass field and its facts.

    help: the flag's and the widget's help text. label: the app's name for it; a field with a label is shown in its
    group on the Train page, one without under "More settings". short: its name inside a sentence or on a chart's
    change marker (default: the label). group: the CLI's argument group and the Train page's expander.
    range: inclusive (lo, hi) a value must lie in (hi None: no upper bound); RunConfig raises outside it, a link
    clamps into it, the Train page's inputs stop at it. also: values accepted besides the range (0 = "the dataset's
    own"). link_max: the most a shared link may ask for, where that is below what the config accepts. choices: the
    values allowed; choice_labels: how the app names them. live: a running run takes a new value at its next batch;
    options: the values its slider offers (default: a 1-3-10 ladder over the range).
    """
    meta: dict[str, Any] = {"help": help, "group": group, "label": label, "short": short, "range": range,
                            "also": also, "link_max": link_max, "options": options, "choices": choices,
                            "choice_labels": choice_labels or {}, "live": live}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    # --- data ---
    dataset: str = _f("digits", "Dataset name (see `python -m ffviz datasets`).", label="Dataset", group="data")
    data_root: str = _f("data", "Folder where downloaded datasets live.", group="data")
    image_size: int = _f(0, "Input size in pixels; 0 = the dataset's default (16 for digits, 32 for MNIST/CIFAR).",
                         group="data", range=(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE), also=(0,))
    channels: int = _f(0, "Input channels for digits (1 or 3); 0 = the dataset's own.", group="data")

    # --- network ---
    preset: str = _f("classroom", "Architecture preset (see `python -m ffviz presets`).", label="Network preset",
                     group="network")
    widths: tuple[int, ...] = _f((), "Stage widths overriding the preset's, e.g. 20,40,80,160; each stage doubles.",
                                 group="network", range=(1, None), link_max=4096)
    mode: str = _f("learnable", modes.help_text(), label="Mode", group="network", choices=MODES,
                   choice_labels={name: m.label for name, m in modes.MODES.items()})
    dropout: float = _f(0.1, "Dropout after each conv's ReLU.", group="network", range=(0.0, 0.9))

    # --- goodness and assignment ---
    good_mean: float = _f(0.94, "Goodness coefficient a on the spatial mean: p = a*mean + b*max - d*min.",
                          group="goodness", range=(-10.0, 10.0))
    good_max: float = _f(0.06, "Goodness coefficient b on the spatial max.", group="goodness", range=(-10.0, 10.0))
    good_min: float = _f(0.05, "Goodness coefficient d on the spatial min (subtracted).", group="goodness",
                         range=(-10.0, 10.0))
    temperature: float = _f(10.0, "Initial assignment temperature T0; log T is learnable.",
                            label="Initial temperature T0", group="goodness", range=(0.01, 1000.0))
    temp_decay: float = _f(0.995, "Per-epoch multiplicative decay of the temperature: T_e = T * decay^epoch.",
                           label="Temperature decay per epoch", group="goodness", range=(0.5, 1.0))
    temp_min: float = _f(0.1, "Lower clamp of exp(log T) before the decay.", group="goodness", range=(0.001, 1000.0))
    temp_max: float = _f(100.0, "Upper clamp of exp(log T) before the decay.", group="goodness",
                         range=(0.001, 1000.0))
    label_smoothing: float = _f(0.1, "Label smoothing of every layer's cross-entropy.", group="goodness",
                                range=(0.0, 0.9))

    # --- where the assignment starts: the paper's start and three labelled departures from it ---
    # The paper starts A at the constant 0.5 (W uniform, no gradient for the convolutions until A breaks the symmetry)
    # with a learnable T; each field below leaves that point in one way, and 0 / True keeps the paper's start.
    init_noise: float = _f(0.0, "Departure from the paper: start A with Gaussian noise of this standard deviation, "
                           "in units of W's logits (A/T0), so W starts off uniform by chance. 0 = the paper's "
                           "constant A.", label="Start: random A (scale)", short="random A", group="assignment start",
                           range=(0.0, 10.0))
    init_partition: float = _f(0.0, "Departure from the paper: start A from the static partition, each channel's "
                               "own class (its block, as in static mode) this many logits (A/T0) above the others. "
                               "0 = the paper's constant A.", label="Start: A from the static partition (strength)",
                               short="A from partition", group="assignment start", range=(0.0, 20.0))
    learn_temperature: bool = _f(True, "The paper learns log T. Off (a departure from the paper): T stays fixed at "
                                 "T0 x decay^epoch.", label="Learnable temperature", short="learnable T",
                                 group="assignment start")

    # --- regularizers ---
    lambda_entropy: float = _f(1e-2, "Weight of the entropy penalty on W (sharper assignments).", label="λ_entropy",
                               group="regularizers", range=(0.0, 10.0), live=True,
                               options=(0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0))
    lambda_orth: float = _f(1e-3, "Weight of the orthogonality penalty on W's class columns.",
                            label="λ_orthogonality", short="λ_orth", group="regularizers", range=(0.0, 10.0),
                            live=True, options=(0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0))
    orth_scaling: str = _f("mean", "Scaling of the orthogonality penalty. mean: mean((G-I)^2); authors: also "
                           "divided by K^2*C as in the authors' code, which makes the term ~1e-8 of the loss.",
                           label="Orthogonality scaling", group="regularizers", choices=ORTH_SCALINGS,
                           choice_labels={"mean": "mean((G−I)²)", "authors": "authors' (÷K²C, ~off)"})
    orth_warmup_epochs: int = _f(50, "Epochs of linear warm-up of the orthogonality weight (0 = none).",
                                 label="Orthogonality warm-up (epochs)", group="regularizers", range=(0, 10_000))

    # --- layer contributions ---
    contribution_signal: str = _f("train", "Loss that sets the layer weights alpha = softmax(-L/tau): the epoch's "
                                  "training loss (authors' code) or the validation loss (paper's text).",
                                  label="Contribution signal", group="contributions", choices=CONTRIBUTION_SIGNALS,
                                  choice_labels={"train": "training loss", "val": "validation loss"})
    contribution_tau: float = _f(1.0, "Temperature tau of the layer-weight softmax.", group="contributions",
                                 range=(0.001, 1000.0))

    # --- optimisation ---
    lr: float = _f(0.08, "Peak learning rate (AdamW, one parameter group per layer).", label="Learning rate",
                   short="learning rate", range=(1e-6, 10.0), live=True,
                   options=(0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.12, 0.2, 0.3))
    epochs: int = _f(20, "Number of epochs; the cosine schedule spans them.", label="Epochs", range=(1, None),
                     link_max=1000)
    batch_size: int = _f(32, "Training mini-batch size.", label="Batch size", range=(1, None), link_max=4096)
    eval_batch_size: int = _f(1000, "Batch size for evaluation (no gradients).", range=(1, None), link_max=8192)
    lr_min: float = _f(0.006, "Learning rate at the end of the cosine schedule.", range=(0.0, 10.0))
    weight_decay: float = _f(5e-4, "AdamW weight decay (also on A and log T).", range=(0.0, 1.0))
    grad_clip: float = _f(1.0, "Gradient-norm clip per layer (0 = off).", range=(0.0, 1000.0))
    seed: int = _f(2222, "Seed for initialisation, shuffling and dropout.", label="Seed", range=(0, MAX_SEED))
    ff_step: str = _f("fused", "How a training step runs. fused: all local losses summed, one backward; lean: "
                      "each layer's backward right after its forward (least memory). Same gradients.",
                      choices=FF_STEPS, group="speed")
    cpu_kernels: str = _f("fused", "On the CPU, in the CAW-Conv modes: fused runs each layer's ReLU, dropout, goodness "
                          "pooling and instance norm as compiled kernels, one pass forward and one backward "
                          "(torch.compile; the first run on a machine compiles them once, bench/REPORT.md); eager: "
                          "PyTorch's operators. Same values up to float rounding.", choices=CPU_KERNELS,
                          group="speed")

    # --- hardware and records ---
    device: str = _f("auto", "Where to train; auto picks CUDA, then MPS, then the CPU.", label="Device",
                     choices=DEVICES, group="hardware",
                     choice_labels={"auto": "auto", "cpu": "CPU", "cuda": "GPU (CUDA)", "mps": "GPU (Apple MPS)"})
    bf16: bool = _f(True, "Use bf16 where the hardware has it: autocast on CUDA; on a CPU with AMX or AVX-512 BF16, "
                    "the convolutions of layers with 8 or more input channels and maps of 8x8 or more (with the "
                    "compiled CPU kernels). The goodness, W and the logits stay float32.", group="hardware")
    channels_last: bool = _f(True, "Channels-last memory format: activations and weights on CUDA, the conv weights "
                             "on the CPU.", group="hardware")
    compile: bool = _f(False, "On CUDA, capture the whole training step (forward, backward, clipping, AdamW) as one "
                       "CUDA graph: about 2x faster on the paper network (bench/REPORT.md). Ignored elsewhere.",
                       group="hardware")
    probe_size: int = _f(200, "Validation images whose per-layer goodness is stored every epoch (for the views).",
                         group="records", range=(0, 2000))
    batch_log_every: int = _f(1, "Write a batch record every N batches.", group="records", range=(1, 10_000))

    def __post_init__(self) -> None:
        # Coerce list -> tuple so configs read back from JSON compare equal to the originals.
        if isinstance(self.widths, list):
            object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        for f in dataclasses.fields(self):
            _check(f, getattr(self, f.name))
        # Names are checked here, at the edge, so a typo fails before any data is loaded.
        object.__setattr__(self, "dataset", resolve_name(self.dataset))
        get_preset(self.preset)
        # Rules that tie values together, or that a range cannot say.
        if self.temp_min > self.temp_max:
            raise ValueError(f"temp_min={self.temp_min} must not exceed temp_max={self.temp_max}")
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min={self.lr_min} must not exceed lr={self.lr}")
        if self.channels not in CHANNELS:
            raise ValueError(f"channels={self.channels} must be 0 (dataset default), 1 or 3")
        if any(b != 2 * a for a, b in zip(self.widths, self.widths[1:], strict=False)):
            raise ValueError(f"widths={self.widths}: each stage must be twice as wide as the one before (the concat "
                             f"shortcut doubles the width)")
        if self.mode in modes.MODES and modes.MODES[self.mode].loss != "ff" and self.ff_step == "lean":
            raise ValueError(f"ff_step='lean' applies to the CAW-Conv modes; use ff_step='fused' with mode={self.mode}")

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
        return cls(**{k: parse(k, v) for k, v in d.items()})

    def replace(self, **changes: Any) -> RunConfig:
        return RunConfig.from_dict({**self.to_dict(), **changes})

    def diff(self, other: RunConfig) -> dict[str, tuple[Any, Any]]:
        """Fields that differ: name -> (mine, theirs)."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


def field_info() -> list[dataclasses.Field]:
    """The config fields in declaration order, for building CLI flags and widgets."""
    return list(dataclasses.fields(RunConfig))


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(RunConfig)}
# The hyperparameters a running run takes at its next batch (control.RunControl.set, the app's live sliders).
LIVE_FIELDS: tuple[str, ...] = tuple(n for n, f in FIELDS.items() if f.metadata["live"])


def label(name: str) -> str:
    """The app's name for a field: its label, else its name in words."""
    return FIELDS[name].metadata["label"] or name.replace("_", " ")


def short_label(name: str) -> str:
    """A field's name inside a sentence or on a chart's change marker."""
    return FIELDS[name].metadata["short"] or label(name)


def start_words(cfg: RunConfig) -> str:
    """How a learnable run's assignment starts, in a few words: "paper's start", or its departures from it ("random A
    0.5 · A from partition 2 · fixed T"); "" for the modes without a learned W. Every page that names a run says it."""
    if cfg.mode != "learnable":
        return ""
    parts = [f"{short_label(n)} {getattr(cfg, n):g}" for n in ("init_noise", "init_partition") if getattr(cfg, n)]
    if not cfg.learn_temperature:
        parts.append(f"fixed T {cfg.temperature:g}")
    return " · ".join(parts) or "paper's start"


def live_options(name: str) -> tuple[float, ...]:
    """The values a live field's slider offers: its own options, else 0 (or the range's low end) and a 1-3-10
    ladder from 1e-4 of the range's top up to the top."""
    meta = FIELDS[name].metadata
    if meta["options"]:
        return tuple(meta["options"])
    lo, hi = meta["range"] or (0.0, 1.0)
    hi = 1.0 if hi is None else hi
    ladder = [m * 10.0 ** e for e in range(math.floor(math.log10(hi)) - 4, math.floor(math.log10(hi)) + 1)
              for m in (1.0, 3.0)]
    return tuple(sorted({float(lo), *(float(f"{v:.3g}") for v in ladder if lo < v <= hi)}))


_BOOL = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
# How each type reads in words, for messages (a link's notes, the CLI's errors).
EXPECTED = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text",
            "tuple[int, ...]": "a comma-separated list of whole numbers"}


def parse(name: str, value: Any) -> Any:
    """Plain data (text from a URL, the command line or a widget; lists from JSON) as the field's type, or a
    ValueError naming the field. The one place a field's type is read: RunConfig.from_dict, the CLI, the app's
    widgets and share links all come through here."""
    kind = FIELDS[name].type
    try:
        if isinstance(value, str):
            value = value.strip()
        if kind == "bool":
            if isinstance(value, str):
                return _BOOL[value.lower()]
            return bool(value)
        if kind == "int":
            return parse_int(value)
        if kind == "float":
            out = float(value)
            if not math.isfinite(out):
                raise ValueError
            return out
        if kind == "tuple[int, ...]":
            if isinstance(value, str):
                value = [v for v in value.replace(" ", "").split(",") if v]
            return tuple(parse_int(v) for v in value)
        if not isinstance(value, (str, int, float, os.PathLike)) or len(str(value)) > 10_000:
            raise TypeError  # str() of a container built as a graph is 2^depth long: text only
        return str(value)
    except (TypeError, ValueError, KeyError, OverflowError):
        raise ValueError(f"{name}={value!r} is not valid: expected {EXPECTED.get(kind, kind)}") from None


def parse_int(value: Any) -> int:
    """A whole number from an int, a whole float, or text ("3", "3.0" and "1e3" are whole numbers written
    otherwise); ValueError for anything else."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            value = float(value)
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(value)


def in_range(name: str, value: float) -> bool:
    """True when a number lies in the field's range (or is one of its ``also`` values)."""
    meta = FIELDS[name].metadata
    if meta["range"] is None or value in meta["also"]:
        return True
    lo, hi = meta["range"]
    return lo <= value and (hi is None or value <= hi)


def range_text(name: str) -> str:
    lo, hi = FIELDS[name].metadata["range"]
    also = "".join(f" or {a}" for a in FIELDS[name].metadata["also"])
    return (f"[{lo}, {hi}]" if hi is not None else f">= {lo}") + also


def _check(f: dataclasses.Field, value: Any) -> None:
    """A value's own rules: one of the field's choices, inside its range (each width, for widths)."""
    choices = f.metadata["choices"]
    if choices is not None and value not in choices:
        raise ValueError(f"{f.name}={value!r} is not valid; choose one of {', '.join(map(str, choices))}")
    if f.metadata["range"] is None:
        return
    values = value if isinstance(value, tuple) else (value,)
    if not all(in_range(f.name, v) for v in values):
        raise ValueError(f"{f.name}={value!r} must {'each ' if isinstance(value, tuple) else ''}be in "
                         f"{range_text(f.name)}")
