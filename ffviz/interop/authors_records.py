"""The authors' logs as ffviz's records: the config their run had as far as the logs tell, an epoch record per
epoch, the test record, a snapshot per W block. What their logs do not hold is NaN (authors_format.py says what they
hold).

    cfg = logs_config(logs, dataset="cifar10")
    epochs = epoch_records(logs, cfg)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ffviz.config import RunConfig
from ffviz.data import DATASETS
from ffviz.interop.authors_format import BY_CLASSES, TASKS, AuthorsLogs, AuthorsLogsError
from ffviz.presets import PRESETS
from ffviz.records import EpochRecord, Snapshot, TestRecord
from ffviz.regularizers import REGULARIZERS


def widths_of(shapes: list[tuple[int, int]]) -> tuple[int, ...]:
    n = len(shapes)
    if n < 5 or (n - 1) % 4:
        raise AuthorsLogsError(f"the weights file has {n} layers; the authors' ResNet has 1 + 4*S (17 for "
                               f"ResNet-17): the TinyCNN and VGG scripts' logs are not read")
    return tuple(shapes[1 + 4 * s][0] for s in range((n - 1) // 4))


def guess_dataset(folder: Path, num_classes: int) -> tuple[str, str]:
    """(dataset, where that came from): their results folder's name "<time>_<task>_<arch>", else a guess from K."""
    parts = folder.resolve().name.lower().split("_")
    for part in parts[1:]:
        if part in TASKS and DATASETS[TASKS[part]].num_classes == num_classes:
            return TASKS[part], f"the folder's name ({folder.resolve().name})"
    name = BY_CLASSES.get(num_classes, "cifar10")
    return name, f"unknown: not in the logs; ResNet_{name.upper().replace('-', '_')}.py's dataset for {num_classes} " \
                 f"classes is shown"


def logs_config(logs: AuthorsLogs, *, dataset: str) -> RunConfig:
    """The RunConfig that describes their run as far as the logs tell (the rest: their script's own values)."""
    widths = widths_of(logs.shapes)
    preset = next((p.name for p in PRESETS.values() if p.widths == widths), None)
    epochs = logs.planned_epochs or len(logs.info)
    try:
        return RunConfig(dataset=dataset, preset=preset or "resnet17", widths=() if preset else widths,
                         mode="learnable", orth_scaling="authors", epochs=max(epochs, len(logs.info)),
                         lr=0.08, lr_min=0.006, weight_decay=5e-4, batch_size=128, lambda_entropy=1e-2,
                         lambda_orth=1e-3, bf16=False, seed=2222, device="cpu")
    except ValueError as e:
        raise AuthorsLogsError(f"their run does not fit an ffviz config: {e}") from None


CONFIG_FROM_LOGS = {
    "preset": "all_epochs_layer_weights.txt (the layers' shapes)",
    "widths": "all_epochs_layer_weights.txt (the layers' shapes)",
    "epochs": "info_17L.csv (info_str's planned epochs)",
    "mode": "the files' kind (learnable assignment: the weights file)",
}
UNKNOWN = "unknown: not in the logs; the value of ResNet_CIFAR10.py at c4514393 is shown"


def _nan(n: int) -> list[float]:
    return [math.nan] * n


def epoch_records(logs: AuthorsLogs, cfg: RunConfig) -> list[EpochRecord]:
    layers = logs.num_layers
    k = logs.shapes[0][1]
    out = []
    elapsed = 0.0
    epochs = ([0] if 0 in logs.weights else []) + [r["epoch"] for r in logs.info]
    for e in epochs:
        info = logs.info[e - 1] if e else None
        losses = logs.layer_losses[e - 2] if 2 <= e < len(logs.layer_losses) + 2 else None
        if info:
            elapsed += info["train_time"]
        alpha = _nan(layers)
        if losses:  # their α, as their pruning step computes it: softmax(-mean training loss of the epoch)
            z = np.exp(-(np.asarray(losses) - min(losses)))
            alpha = (z / z.sum()).tolist()
        ws = logs.weights.get(e)
        ortho = logs.ortho_loss.get(e)
        out.append(EpochRecord(
            epoch=e, step=e, time=elapsed, lr=info["lr"] if info else math.nan, device="unknown",
            temperature=_nan(layers), lambdas={n: math.nan for n in REGULARIZERS},
            schedules={n: math.nan for n in REGULARIZERS},
            train_loss=float(sum(losses)) if losses else (math.nan if e else None),
            train_ce=list(losses) if losses else (_nan(layers) if e else None),
            train_terms={"orth": list(ortho)} if ortho else ({"orth": _nan(layers)} if e else None),
            train_terms_w=None if not e else {"orth": _nan(layers)}, train_acc=_nan(layers) if e else None,
            val_ce=_nan(layers), val_acc=_nan(layers), alpha=alpha,
            acc_alpha=info["valid_acc"] if info else math.nan, acc_sum=info["before_acc"] if info else math.nan,
            acc_last=math.nan, acc_best_layer=math.nan, best_layer=-1,
            good_true=_nan(layers), good_wrong=_nan(layers),
            w_sharpness=[float(w.max(1).mean()) for w in ws] if ws else _nan(layers),
            channels_per_class=[np.bincount(w.argmax(1), minlength=k).tolist() for w in ws] if ws else
            [[] for _ in range(layers)],
            images_per_sec=None, epoch_seconds=info["train_time"] if info else None))
    return out


def test_record(logs: AuthorsLogs) -> TestRecord:
    last = logs.info[-1]
    layer = [t for _, t in logs.layer_acc] if logs.layer_acc else _nan(logs.num_layers)
    return TestRecord(epoch=last["epoch"], acc_alpha=last["test_acc"], acc_sum=last["before_test_acc"],
                      acc_last=layer[-1], acc_best_layer=math.nan, best_layer=-1, layer_acc=layer)


def snapshot(epoch: int, ws: list[np.ndarray]) -> Snapshot:
    k = ws[0].shape[1]
    empty = np.zeros(0, dtype=np.int64)
    return Snapshot(epoch=epoch, w=ws, probe_index=empty, probe_y=empty,
                    probe_g=[np.zeros((0, k), np.float32) for _ in ws],
                    probe_p=[np.zeros((0, w.shape[0]), np.float32) for w in ws], val_pred=empty, val_y=empty)
