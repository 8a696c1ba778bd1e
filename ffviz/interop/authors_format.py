"""What the authors' CAW-Conv ResNet scripts (at c4514393) log, the bounds an import holds it to, and the readers of
their CSV files. The weights file is read by authors_weights.py; the folder becomes a run in authors_logs.py.

    info, planned = read_info(Path("info_17L.csv"))      # or AuthorsLogsError naming the file, the line, the rule

What their ResNet scripts write, as read from ResNet_CIFAR10.py (the file names carry the postfix "17L"):

    info_17L.csv          header epoch,start_layer,end_layer,before_acc,valid_acc,before_test_acc,test_acc,
                          train_time,pruning_time,test_time,lr,info_str; one row per epoch, epoch counted from 1.
                          valid_acc / test_acc: the loss-weighted (α) vote; before_*: the plain sum of the layers'
                          goodness; lr: after that epoch's scheduler step; info_str "Epoch: 001/150: ..." (the
                          planned epochs).
    layer_losses_17L.csv  header Layer_0..Layer_16; each layer's mean training cross-entropy of an epoch. Their
                          script skips the first epoch's row, so row r is epoch r + 2 (counted from 1).
    ortho_metrics_17L.csv header epoch,layer_<i>_ortho_loss...,layer_<i>_ortho_score...; epoch counted from 0.
                          ortho_loss: the last batch's raw orthogonality term in their scaling; ortho_score:
                          ||G - I||_F of the Gram matrix at the base temperature.
    accuracy.csv          no header: epoch,train_acc,valid_acc,test_acc every 5 epochs, and once at the end.
    layer_acc.csv         no header: one row per layer, train_acc,test_acc, after the last epoch.
    all_epochs_layer_weights.txt
                          every layer's W = softmax(A / T_e) (C channels x K classes) at the start of every 10th
                          epoch, i.e. after 0, 10, 20... epochs of training: a block "Epoch N", then per layer
                          "i  (C, K)  Class k: [w_0 ... w_C-1]" for the first 10 classes (numpy's print, wrapped).

The folder is untrusted, as an upload: every file is bounded in size, every number must be finite and in range,
layer, channel, class and epoch counts are bounded, and a folder that is not theirs is refused naming what is missing.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Bounds on what a folder of logs may hold (a paper run of 150 epochs at widths 100..800 is ~16 MB of weights text).
MAX_CSV_BYTES = 8 * 2**20
MAX_WEIGHTS_BYTES = 64 * 2**20
MAX_EPOCHS = 10_000
MAX_LAYERS = 64
MAX_CHANNELS = 4096
MAX_CLASSES = 1000
MAX_SECONDS = 1e7  # one epoch's training time
WRITTEN_CLASSES = 10  # their weights file writes the first 10 classes of each layer only

INFO_HEADER = ["epoch", "start_layer", "end_layer", "before_acc", "valid_acc", "before_test_acc", "test_acc",
               "train_time", "pruning_time", "test_time", "lr", "info_str"]
WEIGHTS_TITLE = "All Epochs Layer Weights"
# The files a folder of their logs holds; the Runs page accepts these names only.
LOG_FILES = ("info_17L.csv", "layer_losses_17L.csv", "ortho_metrics_17L.csv", "accuracy.csv", "layer_acc.csv",
             "all_epochs_layer_weights.txt")
# The task names their scripts put in a results folder's name ("<time>_<task>_<arch>") and in their args.task.
TASKS = {"digits": "digits", "cifar10": "cifar10", "cifar100": "cifar100", "mnist": "mnist", "fmnist": "fashion-mnist",
          "fashion-mnist": "fashion-mnist", "tiny-imagenet": "tiny-imagenet", "tinyimagenet": "tiny-imagenet"}
CLASS_NAMES = {"cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
               "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                                 "Bag", "Ankle boot"]}
BY_CLASSES = {10: "cifar10", 100: "cifar100", 200: "tiny-imagenet"}  # ResNet_<dataset>.py for K classes


class AuthorsLogsError(ValueError):
    """A folder that is not (or not all) the authors' training logs; the message says what and what to do."""


@dataclass
class AuthorsLogs:
    """What a folder of their logs says, every number checked."""

    info: list[dict[str, float]]  # one per epoch, epoch counted from 1
    planned_epochs: int | None
    layer_losses: list[list[float]]  # row r: epoch r + 2
    ortho_loss: dict[int, list[float]] = field(default_factory=dict)  # epoch from 1 -> per layer
    ortho_score: dict[int, list[float]] = field(default_factory=dict)
    accuracy: list[tuple[int, float, float, float]] = field(default_factory=list)
    layer_acc: list[tuple[float, float]] | None = None
    weights: dict[int, list[np.ndarray]] = field(default_factory=dict)  # epoch -> per layer (C, K)
    shapes: list[tuple[int, int]] = field(default_factory=list)  # per layer (C, K), from the weights file
    notes: list[str] = field(default_factory=list)

    @property
    def num_layers(self) -> int:
        return len(self.layer_losses[0]) if self.layer_losses else len(self.shapes)


# ----------------------------------------------------------------------------------------------------- reading
def read_text(path: Path, limit: int) -> str:
    size = path.stat().st_size
    if size > limit:
        raise AuthorsLogsError(f"{path.name} is {size / 2**20:.1f} MiB; at most {limit / 2**20:.0f} MiB is accepted "
                               f"(a 150-epoch paper run writes far less)")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise AuthorsLogsError(f"{path.name} is not text: it is not a log the authors' script wrote") from None


def _number(text: str, what: str, *, lo: float = -math.inf, hi: float = math.inf) -> float:
    try:
        x = float(text)
    except (TypeError, ValueError):
        raise AuthorsLogsError(f"{what}: {text[:40]!r} is not a number") from None
    if not math.isfinite(x):
        raise AuthorsLogsError(f"{what} is {text.strip()[:20]}: the logs must hold finite numbers")
    if not lo <= x <= hi:
        raise AuthorsLogsError(f"{what} = {x:g} is outside [{lo:g}, {hi:g}]")
    return x


def whole(text: str, what: str, *, lo: int = 0, hi: int = MAX_EPOCHS) -> int:
    x = _number(text, what, lo=lo, hi=hi)
    if x != int(x):
        raise AuthorsLogsError(f"{what} = {x:g} is not a whole number")
    return int(x)


def _csv_rows(path: Path) -> list[list[str]]:
    text = read_text(path, MAX_CSV_BYTES)
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if r]
    except csv.Error as e:  # a NUL byte, a field longer than csv's limit (128 KiB)
        raise AuthorsLogsError(f"{path.name} is not a CSV file their script wrote: {e}") from None
    if len(rows) > MAX_EPOCHS + 2:
        raise AuthorsLogsError(f"{path.name} has {len(rows)} rows; at most {MAX_EPOCHS} epochs are accepted")
    return rows


def find_file(folder: Path, pattern: str, what: str, *, required: bool) -> Path | None:
    found = sorted(p for p in folder.glob(pattern) if p.is_file())
    if len(found) > 1:
        raise AuthorsLogsError(f"{folder.name} holds {len(found)} {what} files ({', '.join(p.name for p in found[:4])}"
                               f"); keep the one run's files only")
    if not found and required:
        raise AuthorsLogsError(f"{folder.name} has no {pattern.replace('*', '17L')}: this is not a folder of the "
                               f"authors' CAW-Conv ResNet logs. It needs info_17L.csv, layer_losses_17L.csv and "
                               f"all_epochs_layer_weights.txt (and reads ortho_metrics_17L.csv, accuracy.csv and "
                               f"layer_acc.csv when there)")
    return found[0] if found else None


def read_info(path: Path) -> tuple[list[dict[str, float]], int | None]:
    rows = _csv_rows(path)
    if not rows or rows[0] != INFO_HEADER:
        raise AuthorsLogsError(f"{path.name} does not start with the header their script writes "
                               f"({','.join(INFO_HEADER[:5])},...): not the authors' info log")
    out, planned = [], None
    for n, row in enumerate(rows[1:], 2):
        if len(row) != len(INFO_HEADER):
            raise AuthorsLogsError(f"{path.name} line {n} has {len(row)} fields, not {len(INFO_HEADER)}")
        where = f"{path.name} line {n}"
        rec = {"epoch": whole(row[0], f"{where}: epoch", lo=1)}
        for key in ("start_layer", "end_layer"):
            rec[key] = whole(row[INFO_HEADER.index(key)], f"{where}: {key}", hi=MAX_LAYERS)
        for key in ("before_acc", "valid_acc", "before_test_acc", "test_acc"):
            rec[key] = _number(row[INFO_HEADER.index(key)], f"{where}: {key}", lo=0, hi=100)
        for key in ("train_time", "pruning_time", "test_time"):
            rec[key] = _number(row[INFO_HEADER.index(key)], f"{where}: {key}", lo=0, hi=MAX_SECONDS)
        rec["lr"] = _number(row[10], f"{where}: lr", lo=0, hi=100)
        if rec["epoch"] != len(out) + 1:
            raise AuthorsLogsError(f"{where}: epoch {rec['epoch']} where {len(out) + 1} was expected (one row per "
                                   f"epoch, from 1); a resumed run's rows out of order are not read")
        m = re.match(r"Epoch: (\d{1,6})/(\d{1,6})", row[11])
        if m:
            planned = whole(m.group(2), f"{where}: the planned epochs in info_str", lo=1)
        out.append(rec)
    if not out:
        raise AuthorsLogsError(f"{path.name} holds no epoch yet: the run had not finished its first epoch")
    return out, planned


def read_layer_losses(path: Path) -> list[list[float]]:
    rows = _csv_rows(path)
    header = rows[0] if rows else []
    if not header or len(header) > MAX_LAYERS or header != [f"Layer_{i}" for i in range(len(header))]:
        raise AuthorsLogsError(f"{path.name} does not start with the header Layer_0,Layer_1,... (at most "
                               f"{MAX_LAYERS} layers): not the authors' layer-loss log")
    out = []
    for n, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise AuthorsLogsError(f"{path.name} line {n} has {len(row)} losses for {len(header)} layers")
        out.append([_number(x, f"{path.name} line {n}, layer {i}", lo=0, hi=1e4) for i, x in enumerate(row)])
    return out


def read_ortho(path: Path, layers: int) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    rows = _csv_rows(path)
    want = (["epoch"] + [f"layer_{i}_ortho_loss" for i in range(layers)]
            + [f"layer_{i}_ortho_score" for i in range(layers)])
    if not rows or rows[0] != want:
        raise AuthorsLogsError(f"{path.name} does not have the header their script writes for {layers} layers "
                               f"(epoch,layer_0_ortho_loss,...,layer_0_ortho_score,...)")
    loss, score = {}, {}
    for n, row in enumerate(rows[1:], 2):
        if len(row) != len(want):
            raise AuthorsLogsError(f"{path.name} line {n} has {len(row)} fields, not {len(want)}")
        epoch = whole(row[0], f"{path.name} line {n}: epoch") + 1  # theirs from 0, ours "epochs trained"
        loss[epoch] = [_number(x, f"{path.name} line {n}: ortho loss", lo=0, hi=1e6) for x in row[1:1 + layers]]
        score[epoch] = [_number(x, f"{path.name} line {n}: ortho score", lo=0, hi=1e6) for x in row[1 + layers:]]
    return loss, score


def read_accuracy(path: Path) -> list[tuple[int, float, float, float]]:
    out = []
    for n, row in enumerate(_csv_rows(path), 1):
        if len(row) != 4:
            raise AuthorsLogsError(f"{path.name} line {n} has {len(row)} fields; their accuracy.csv has 4 "
                                   f"(epoch,train_acc,valid_acc,test_acc)")
        out.append((whole(row[0], f"{path.name} line {n}: epoch"),
                    *(_number(x, f"{path.name} line {n}: accuracy", lo=0, hi=100) for x in row[1:])))
    return out


def read_layer_acc(path: Path, layers: int) -> list[tuple[float, float]]:
    rows = _csv_rows(path)
    if len(rows) != layers or any(len(r) != 2 for r in rows):
        raise AuthorsLogsError(f"{path.name} should hold one row per layer ({layers}) of train_acc,test_acc; it has "
                               f"{len(rows)} rows")
    return [(_number(a, f"{path.name} line {n}", lo=0, hi=100), _number(b, f"{path.name} line {n}", lo=0, hi=100))
            for n, (a, b) in enumerate(rows, 1)]
