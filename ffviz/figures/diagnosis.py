"""A stuck start, said in words: from a run's epoch records, which layers' assignment W stays at (or melts back to)
uniform, whose temperature runs into its clamp, and whose channels stop firing, each with what is happening and what
to try. Pure functions on records; the Train and Assignments pages show the sentences, bench/pairs_study.py keeps them.

    diag = diagnose(reader.epochs, reader.config)
    for flag in diag.flags: print(flag.sentence)

Why these three: with the paper's start (A constant, so W = 1/K) every class gets the same goodness and the
convolutions no gradient until A breaks the symmetry; a layer whose W is still uniform votes for no class and learns
nothing. A temperature at its floor makes W as hard as the clamp allows, at its ceiling pushes W back toward uniform.
A layer whose channels are silent gives every class zero goodness: its A gets no gradient either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ffviz.config import RunConfig, short_label
from ffviz.records import EpochRecord

UNIFORM = 0.98  # W's normalised row entropy at or above which a layer's W counts as uniform (if it votes at chance)
MELTED_FROM = 0.9  # ... and below which it must have been, earlier, to have "melted back"
SILENT = 1e-4  # mean class goodness (true and strongest wrong) below which a layer's channels count as silent
CLAMP_TOL = 0.01  # relative distance to a clamp that counts as "at" it


@dataclass(frozen=True)
class Flag:
    kind: str  # "uniform", "melted", "floor", "ceiling", "silent"
    layers: tuple[int, ...]
    sentence: str  # what is happening and what to try, in plain words


@dataclass
class Diagnosis:
    epoch: int
    flags: list[Flag] = field(default_factory=list)
    entropy_last: list[float] = field(default_factory=list)  # per layer, the latest epoch's (1 = uniform)
    temperature_last: list[float] = field(default_factory=list)

    @property
    def stuck(self) -> bool:
        return bool(self.flags)

    @property
    def heading(self) -> str:
        """"Stuck start." when a layer is at chance or silent; else "Watch the temperature." (a clamp alone)."""
        return "Stuck start." if any(f.kind in ("uniform", "melted", "silent") for f in self.flags) else (
            "Watch the temperature.")


def layer_entropy(rec: EpochRecord, num_classes: int) -> list[float]:
    """Each layer's W entropy (1 = uniform): recorded, else estimated from w_sharpness (mean max_k W) for runs written
    before the entropy was recorded: 1 at 1/K, 0 at 1, linear in log between."""
    if rec.w_entropy is not None:
        return list(rec.w_entropy)
    k = max(num_classes, 2)
    return [float("nan") if s != s or s <= 0 else min(1.0, max(0.0, math.log(1.0 / s) / math.log(k)))
            for s in rec.w_sharpness]


def _layers(idx: Sequence[int]) -> str:
    """"layer 3" / "layers 1-8" / "layers 0, 2 and 5"."""
    idx = sorted(idx)
    if len(idx) == 1:
        return f"layer {idx[0]}"
    if idx == list(range(idx[0], idx[-1] + 1)):
        return f"layers {idx[0]}–{idx[-1]}"
    return "layers " + ", ".join(map(str, idx[:-1])) + f" and {idx[-1]}"


def _starts_hint(cfg: RunConfig) -> str:
    """What to try, naming the starts this run does not use yet."""
    tries = [f"“{short_label(n)}”" for n in ("init_noise", "init_partition") if not getattr(cfg, n)]
    hint = f"a start that leaves the uniform point ({' or '.join(tries)}, departures from the paper)" if tries else (
        "a stronger start")
    return f"Try {hint}, a lower initial temperature, or more steps (a larger data set or more epochs)."


def diagnose(epochs: Sequence[EpochRecord], cfg: RunConfig, num_classes: int | None = None) -> Diagnosis:
    """The flags of a learnable run after its latest epoch (none before the first trained epoch, none for the other
    modes: their W is fixed or absent)."""
    trained = [e for e in epochs if e.epoch > 0]
    if cfg.mode != "learnable" or not trained:
        return Diagnosis(epoch=trained[-1].epoch if trained else 0)
    last = trained[-1]
    k = num_classes or (len(last.channels_per_class[0]) if last.channels_per_class else 2)
    history = [layer_entropy(e, k) for e in epochs]
    ent = history[-1]
    diag = Diagnosis(epoch=last.epoch, entropy_last=ent, temperature_last=list(last.temperature))
    when = f"after {last.epoch} epoch{'s' * (last.epoch != 1)} ({last.step:,} steps)"
    # Near-uniform is not enough: a W within a hair of 1/K still tells classes apart when the goodness is large, so a
    # layer counts as stuck only while it also votes at chance (below twice 1/K on validation).
    chance = 2 * 100.0 / k
    uniform = [i for i, h in enumerate(ent) if h >= UNIFORM and i < len(last.val_acc) and last.val_acc[i] < chance]
    melted = [i for i in uniform if min(row[i] for row in history[:-1]) < MELTED_FROM]
    still = [i for i in uniform if i not in melted]
    if still:
        diag.flags.append(Flag("uniform", tuple(still), (
            f"The assignment W of {_layers(still)} is still uniform {when}: every class gets the same goodness "
            f"from {'it' if len(still) == 1 else 'them'}, so {'it votes' if len(still) == 1 else 'they vote'} for "
            f"no class and {'its' if len(still) == 1 else 'their'} convolutions get no gradient (the paper's start, "
            f"A constant). " + _starts_hint(cfg))))
    if melted:
        diag.flags.append(Flag("melted", tuple(melted), (
            f"The assignment W of {_layers(melted)} sharpened and then melted back to uniform {when}: the "
            f"temperature rose until every class gets the same goodness again. Try a fixed temperature "
            f"(“{short_label('learn_temperature')}” off) or a lower temperature ceiling (temp_max).")))
    _clamp_flags(diag, last, cfg)
    silent = [i for i, (t, w) in enumerate(zip(last.good_true, last.good_wrong, strict=False))
              if abs(t) < SILENT and abs(w) < SILENT]
    if silent:
        diag.flags.append(Flag("silent", tuple(silent), (
            f"The channels of {_layers(silent)} have stopped firing {when} (class goodness below {SILENT:g}): "
            "with nothing to pool, no class can win there and A gets no gradient. Try a higher temperature floor "
            "(temp_min), a lower learning rate, or a start from the static partition.")))
    return diag


def _clamp_flags(diag: Diagnosis, last: EpochRecord, cfg: RunConfig) -> None:
    """Layers whose exp(log T) sits at temp_min or temp_max (T_e divided by the decay so far)."""
    if not cfg.learn_temperature:
        return
    factor = cfg.temp_decay ** last.epoch
    raw = [t / factor for t in last.temperature]
    floor = [i for i, t in enumerate(raw) if t == t and t <= cfg.temp_min * (1 + CLAMP_TOL)]
    ceiling = [i for i, t in enumerate(raw) if t == t and t >= cfg.temp_max * (1 - CLAMP_TOL)]
    if floor:
        diag.flags.append(Flag("floor", tuple(floor), (
            f"The temperature of {_layers(floor)} has run into its floor (temp_min = {cfg.temp_min:g}): W is as "
            "hard as the clamp allows and the learned log T no longer moves it. Try a fixed temperature "
            f"(“{short_label('learn_temperature')}” off) or a start that leaves the uniform point.")))
    if ceiling:
        diag.flags.append(Flag("ceiling", tuple(ceiling), (
            f"The temperature of {_layers(ceiling)} has run into its ceiling (temp_max = {cfg.temp_max:g}): W is "
            "pushed toward uniform, where no class wins. Try a fixed temperature or a lower temp_max.")))


def summary(diag: Diagnosis) -> str:
    """All flags as one paragraph ("" when nothing is stuck)."""
    return " ".join(f.sentence for f in diag.flags)


def run_diagnosis(run_dir: Path | str) -> Diagnosis:
    """`diagnose` of a run folder's records."""
    from ffviz.store.runs import RunReader

    reader = RunReader(run_dir)
    return diagnose(reader.epochs, reader.config, reader.meta.get("num_classes"))
