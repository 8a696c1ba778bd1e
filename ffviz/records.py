"""The one record schema every consumer of a run reads: the CLI's progress bar, the run files, the app, the tests.

A run emits four kinds of records, each a flat dataclass of plain values (lists are per layer, in layer order):
- ``BatchRecord``: every ``batch_log_every`` training batches, enough for a live loss curve;
- ``EpochRecord``: after each epoch (and once as epoch 0, before the first step), everything the views plot;
- ``EventRecord``: a control action or a live change of a hyperparameter, so charts can mark it;
- ``TestRecord``: once, at the end, on the test split (never used to select anything).
Non-scalar per-epoch artefacts (each layer's W, the probe images' goodness) go in a ``Snapshot`` instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMA_VERSION = 1


@dataclass
class BatchRecord:
    epoch: int  # 0-based epoch the batch belongs to
    step: int  # global batch counter, from 1
    loss: float  # total loss that was minimised (all layers, regularizers included)
    ce: list[float]  # per-layer cross-entropy of this batch
    lr: float
    time: float  # training seconds since the run started (pauses excluded)
    kind: str = "batch"


@dataclass
class EpochRecord:
    epoch: int  # epochs completed: 0 is the untrained network
    step: int
    time: float  # training seconds since start (pauses excluded)
    lr: float
    device: str
    temperature: list[float]  # T_e per layer (NaN for static)
    # each regularizer of ffviz.regularizers by name: its λ as configured this epoch (a live change shows),
    # and its schedule's factor (the orthogonality's warm-up); the loss weighted it by their product
    lambdas: dict[str, float]
    schedules: dict[str, float]
    # training statistics, averaged over the epoch's batches (None at epoch 0)
    train_loss: float | None
    train_ce: list[float] | None
    # each regularizer of ffviz.regularizers by name, per layer: its raw value R(W), and as weighted in the loss
    # (lambda * schedule * R(W)); e.g. {"entropy": [...], "orth": [...]}
    train_terms: dict[str, list[float]] | None
    train_terms_w: dict[str, list[float]] | None
    train_acc: list[float] | None  # per layer, %
    # validation
    val_ce: list[float]
    val_acc: list[float]  # per layer, %
    alpha: list[float]  # layer contributions after this epoch
    acc_alpha: float  # alpha-weighted ensemble, %
    acc_sum: float  # plain sum of all layers' goodness, %
    acc_last: float  # last layer alone, %
    acc_best_layer: float  # best single layer on validation, %
    best_layer: int
    good_true: list[float]  # mean goodness of the true class, per layer
    good_wrong: list[float]  # mean goodness of the strongest wrong class, per layer
    w_sharpness: list[float]  # mean over channels of max_k W_ck, per layer
    channels_per_class: list[list[int]]  # per layer: channels whose strongest class is k
    images_per_sec: float | None  # training throughput of this epoch
    epoch_seconds: float | None
    kind: str = "epoch"
    # per layer: mean over channels of the entropy of W's row, divided by ln K (1 = uniform, 0 = one class per
    # channel; NaN without a W); None in runs written before it was recorded (readers fall back on w_sharpness)
    w_entropy: list[float] | None = None


@dataclass
class EventRecord:
    epoch: int
    step: int
    time: float
    action: str  # "set", "pause", "resume", "step", "stop", "start", "finish", "fail", "interrupt"
    changes: dict[str, list[Any]] = field(default_factory=dict)  # name -> [old, new] for "set"
    message: str = ""
    kind: str = "event"


@dataclass
class TestRecord:
    epoch: int
    acc_alpha: float
    acc_sum: float
    acc_last: float
    acc_best_layer: float  # the layer that was best on VALIDATION, measured on test
    best_layer: int
    layer_acc: list[float]
    kind: str = "test"


RECORD_TYPES: dict[str, type] = {"batch": BatchRecord, "epoch": EpochRecord, "event": EventRecord, "test": TestRecord}


def to_dict(record: Any) -> dict[str, Any]:
    return dataclasses.asdict(record)


# Runs written before the regularizers became a registry kept each term in fields of its own: the only place the
# two built-in terms are named outside their registry entries, so that those runs still read.
_LEGACY_TERMS = {"entropy": ("train_entropy", "train_entropy_w"), "orth": ("train_orth", "train_orth_w")}
_LEGACY_LAMBDAS = {"entropy": "lambda_entropy", "orth": "lambda_orth"}
_LEGACY_SCHEDULES = {"orth": "orth_warmup"}


def _upgrade_epoch(d: dict[str, Any]) -> dict[str, Any]:
    """An old epoch record's per-term fields (train_entropy, train_orth and their _w; lambda_entropy, lambda_orth,
    orth_warmup) as the mappings keyed by the term's name."""
    d = dict(d)
    if "train_terms" not in d and any(raw in d for raw, _ in _LEGACY_TERMS.values()):
        for key, index in (("train_terms", 0), ("train_terms_w", 1)):
            terms = {name: d.pop(fields[index], None) for name, fields in _LEGACY_TERMS.items()}
            d[key] = None if all(v is None for v in terms.values()) else {
                k: v for k, v in terms.items() if v is not None}
    if "lambdas" not in d and any(f in d for f in _LEGACY_LAMBDAS.values()):
        d["lambdas"] = {name: d.pop(f) for name, f in _LEGACY_LAMBDAS.items() if f in d}
        d["schedules"] = {name: d.pop(_LEGACY_SCHEDULES[name], 1.0) if name in _LEGACY_SCHEDULES else 1.0
                          for name in d["lambdas"]}
    return d


def from_dict(d: dict[str, Any]) -> Any:
    """Rebuild a record; fields a newer writer added are dropped so old readers keep working, and an old epoch
    record's per-term fields become the train_terms mappings."""
    try:
        cls = RECORD_TYPES[d["kind"]]
    except KeyError:
        raise ValueError(f"not a run record (kind={d.get('kind')!r}); known kinds: {', '.join(RECORD_TYPES)}") from None
    if cls is EpochRecord:
        d = _upgrade_epoch(d)
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Snapshot:
    """Non-scalar state after an epoch: what the assignment, goodness and contribution views scrub through."""

    epoch: int
    w: list[np.ndarray]  # per layer (C, K) float32
    probe_index: np.ndarray  # (N,) indices into the validation split
    probe_y: np.ndarray  # (N,)
    probe_g: list[np.ndarray]  # per layer (N, K) class goodness of the probe images
    probe_p: list[np.ndarray]  # per layer (N, C) pooled channel goodness (float16 on disk)
    val_pred: np.ndarray  # (V,) alpha-ensemble prediction on the whole validation split
    val_y: np.ndarray  # (V,)

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"epoch": np.array(self.epoch), "probe_index": self.probe_index, "probe_y": self.probe_y,
               "val_pred": self.val_pred, "val_y": self.val_y, "num_layers": np.array(len(self.w))}
        for i, (w, g, p) in enumerate(zip(self.w, self.probe_g, self.probe_p, strict=True)):
            out[f"w_{i}"] = w.astype(np.float32)
            out[f"g_{i}"] = g.astype(np.float32)
            out[f"p_{i}"] = p.astype(np.float16)
        return out

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> Snapshot:
        n = int(a["num_layers"])
        return cls(epoch=int(a["epoch"]), w=[a[f"w_{i}"] for i in range(n)], probe_index=a["probe_index"],
                   probe_y=a["probe_y"], probe_g=[a[f"g_{i}"] for i in range(n)],
                   probe_p=[a[f"p_{i}"].astype(np.float32) for i in range(n)], val_pred=a["val_pred"], val_y=a["val_y"])
