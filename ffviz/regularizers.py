"""The regularizers on the assignment W, as a registry: a plain dict from a name to its entry.

    from ffviz.regularizers import REGULARIZERS, get_regularizer
    get_regularizer("orth").penalty(w, channels, orth_scaling="mean")    # (L,) one value per layer

Each entry says how to compute the term from W, which RunConfig field holds its weight λ, how that weight is
scheduled over epochs, and how the app names and draws it (label, short label, colour). The loss
(ffviz.method.losses.ff_loss) adds Σ_r λ_r · schedule_r(epoch) · R_r(W_l) to every layer's cross-entropy. The trainer,
the epoch records (``lambdas``, ``schedules``, ``train_terms``: dicts keyed by the entry's name), the Runs table, the
run header, the live sliders, the Regularizers page and a sweep's grid iterate this dict, so a new term is one
function and one entry here (plus its weight field in ffviz/config.py); every field past ``description`` has a
default that suits a new term.

A penalty takes
    w         (..., C, K)  assignments; the trainer passes all layers at once, (L, C_max, K), each layer's rows
                           zero-padded to the widest layer's C_max (both terms below are blind to zero rows)
    channels  (...,)       each layer's true channel count C_l (a tensor, or an int for a single W)
    **options              the RunConfig fields the entry lists in ``options``
and returns (...,): one value per layer. It is written with tensor methods, so this module imports no torch and the
app's pages can read the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

EPS = 1e-10  # in log(W + eps) and in the column norms: W has exact zeros (padding, the static baseline)


def entropy(w: Any, channels: Any) -> Any:
    """H(W) = mean over classes k of -Σ_c W_ck · log(W_ck + eps): (..., C, K) -> (...).

    Columns of W do not sum to one (rows do), so this is an element-wise -w log w penalty that pushes each channel
    towards a confident assignment, not the entropy of a distribution.
    """
    return -(w * (w + EPS).log()).sum(-2).mean(-1)


def gram_matrix(w: Any) -> Any:
    """Ŵᵀ Ŵ, the cosine similarities of W's class columns: (..., C, K) -> (..., K, K). Torch tensors (training) or
    numpy arrays (the figures)."""
    norm = np.linalg.norm(w, axis=-2, keepdims=True) if isinstance(w, np.ndarray) else w.norm(dim=-2, keepdim=True)
    w_hat = w / (norm + EPS)  # unit-length class columns
    return w_hat.swapaxes(-1, -2) @ w_hat


def orthogonality(w: Any, channels: Any, *, orth_scaling: str = "mean") -> Any:
    """O(W) = mean((Ŵᵀ Ŵ - I)²) over the K x K entries: (..., C, K) -> (...).

    orth_scaling="authors" further divides by K² · C, as the authors' code does (which makes the term about 1e-8 of
    the loss: in effect switched off).
    """
    g = gram_matrix(w)
    k = g.shape[-1]
    if isinstance(g, np.ndarray):
        eye = np.eye(k, dtype=g.dtype)
    else:
        import torch  # only ever reached with a torch tensor, so torch is loaded already

        eye = torch.eye(k, device=g.device, dtype=g.dtype)
    out = ((g - eye) ** 2).mean((-2, -1))
    if orth_scaling == "authors":
        return out / (k * k * channels)
    if orth_scaling != "mean":
        raise ValueError(f"orth_scaling={orth_scaling!r} is not valid; choose one of mean, authors")
    return out


def constant(cfg: Any, epoch: int) -> float:
    """The weight as configured, every epoch."""
    return 1.0


def orth_warmup(epoch: int, warmup_epochs: int) -> float:
    """Linear warm-up factor min(1, epoch / warmup) of the orthogonality weight (epoch counted from 0)."""
    return 1.0 if warmup_epochs <= 0 else min(1.0, epoch / warmup_epochs)


def orth_schedule(cfg: Any, epoch: int) -> float:
    """The orthogonality weight warms up linearly over cfg.orth_warmup_epochs."""
    return orth_warmup(epoch, cfg.orth_warmup_epochs)


@dataclass(frozen=True)
class Regularizer:
    """One term of the local loss on W: λ · schedule(cfg, epoch) · penalty(W)."""

    penalty: Callable[..., Any]  # (w (..., C, K), channels (...,), **options) -> (...,)
    weight_field: str  # the RunConfig field that holds λ
    symbol: str  # how figures write the raw term, e.g. "H(W)"
    description: str  # one line for figures and pages
    schedule: Callable[[Any, int], float] = constant  # (cfg, epoch) -> factor on λ
    schedule_name: str = ""  # how figures name a schedule other than the constant, e.g. "warm-up"
    options: tuple[str, ...] = ()  # RunConfig fields passed to the penalty as keywords
    label: str = ""  # the term's name in tables and prose, e.g. "entropy" (the "λ entropy" column); default: its key
    short_label: str = ""  # the few pixels of a change flag above a chart, e.g. "λe"; default: "λ" + its first letter
    color: str = ""  # its line colour in the figures; default: the next of the figures' palette

    @property
    def weight_symbol(self) -> str:
        """How figures and the run header write its weight: "λ_entropy" for the field lambda_entropy."""
        return f"λ_{self.weight_field.removeprefix('lambda_')}"


REGULARIZERS: dict[str, Regularizer] = {
    "entropy": Regularizer(entropy, weight_field="lambda_entropy", symbol="H(W)",
                           description="falls as channels commit to classes", short_label="λe", color="#1F77B4"),
    "orth": Regularizer(orthogonality, weight_field="lambda_orth", symbol="O(W)", schedule=orth_schedule,
                        schedule_name="warm-up", options=("orth_scaling",),
                        description="falls as classes stop sharing channels", short_label="λo", color="#E4572E"),
}


def get_regularizer(name: str) -> Regularizer:
    """The registry's entry for ``name``; an unknown name raises a KeyError that lists the valid ones."""
    try:
        return REGULARIZERS[name]
    except KeyError:
        raise KeyError(f"unknown regularizer {name!r}; valid: {', '.join(REGULARIZERS)}") from None


def label(name: str) -> str:
    """The term's name in tables and prose ("entropy"): its entry's label, else its key."""
    return REGULARIZERS[name].label or name


def short_label(name: str) -> str:
    """The term's weight in a change flag's few pixels ("λe")."""
    return REGULARIZERS[name].short_label or f"λ{name[:1]}"


def weight_fields() -> dict[str, str]:
    """Each term's weight field, in the registry's order: name -> RunConfig field."""
    return {name: r.weight_field for name, r in REGULARIZERS.items()}


def lambdas(cfg: Any) -> dict[str, float]:
    """Each term's λ as configured (its RunConfig field): what an epoch record keeps as ``lambdas``."""
    return {name: float(getattr(cfg, r.weight_field)) for name, r in REGULARIZERS.items()}


def schedules(cfg: Any, epoch: int) -> dict[str, float]:
    """Each term's schedule factor at ``epoch`` (1 for a constant one): an epoch record's ``schedules``."""
    return {name: float(r.schedule(cfg, epoch)) for name, r in REGULARIZERS.items()}


def weights(cfg: Any, epoch: int) -> dict[str, float]:
    """Each term's weight in the loss at ``epoch``: λ (its config field) times its schedule."""
    return {name: getattr(cfg, r.weight_field) * r.schedule(cfg, epoch) for name, r in REGULARIZERS.items()}


def penalties(w: Any, channels: Any, cfg: Any) -> dict[str, Any]:
    """Every registered term on w (..., C, K): name -> (...,), in the registry's order."""
    return {name: r.penalty(w, channels, **{o: getattr(cfg, o) for o in r.options})
            for name, r in REGULARIZERS.items()}
