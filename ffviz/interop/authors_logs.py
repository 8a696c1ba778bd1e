"""The training logs of the authors' CAW-Conv ResNet scripts (at c4514393), opened as an ffviz run.

    python -m ffviz import-logs results/20261204-020000_cifar10_resnet --dataset cifar10
    run_dir = import_logs(Path("that folder"), "runs")

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

An ffviz epoch e is "e epochs trained", so their "Epoch 10" block is ffviz epoch 10 and info's row 10 is too. What
the logs hold becomes the epoch records (validation accuracy of the α vote and of the plain sum, each layer's training
loss and α = softmax(-loss) as their script computes it, the orthogonality term, lr, seconds per epoch), each W block a
snapshot, and the last row and layer_acc.csv the test record. What they do not hold (per-layer validation accuracy,
goodness, entropy, the temperature) is NaN, and the config says which of its fields came from the files and which
are unknown (meta.json ``config_sources``).

The folder is untrusted, as an upload: every file is bounded in size, every number must be finite and in range,
layer, channel, class and epoch counts are bounded, and a folder that is not theirs is refused naming what is missing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ffviz import records
from ffviz.config import RunConfig
from ffviz.data import DATASETS
from ffviz.presets import PRESETS
from ffviz.records import EpochRecord, Snapshot, TestRecord
from ffviz.regularizers import REGULARIZERS
from ffviz.store.folder import RunFolder
from ffviz.store.run_checks import MAX_SNAPSHOT_FILES
from ffviz.store.runs import new_run_dir
from ffviz.store.storage import atomic_write_json

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
_TASKS = {"digits": "digits", "cifar10": "cifar10", "cifar100": "cifar100", "mnist": "mnist", "fmnist": "fashion-mnist",
          "fashion-mnist": "fashion-mnist", "tiny-imagenet": "tiny-imagenet", "tinyimagenet": "tiny-imagenet"}
CLASS_NAMES = {"cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
               "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                                 "Bag", "Ankle boot"]}
_BY_CLASSES = {10: "cifar10", 100: "cifar100", 200: "tiny-imagenet"}  # ResNet_<dataset>.py for K classes


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
def _read_text(path: Path, limit: int) -> str:
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


def _whole(text: str, what: str, *, lo: int = 0, hi: int = MAX_EPOCHS) -> int:
    x = _number(text, what, lo=lo, hi=hi)
    if x != int(x):
        raise AuthorsLogsError(f"{what} = {x:g} is not a whole number")
    return int(x)


def _csv_rows(path: Path) -> list[list[str]]:
    text = _read_text(path, MAX_CSV_BYTES)
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if r]
    except csv.Error as e:  # a NUL byte, a field longer than csv's limit (128 KiB)
        raise AuthorsLogsError(f"{path.name} is not a CSV file their script wrote: {e}") from None
    if len(rows) > MAX_EPOCHS + 2:
        raise AuthorsLogsError(f"{path.name} has {len(rows)} rows; at most {MAX_EPOCHS} epochs are accepted")
    return rows


def _find(folder: Path, pattern: str, what: str, *, required: bool) -> Path | None:
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
        rec = {"epoch": _whole(row[0], f"{where}: epoch", lo=1)}
        for key in ("start_layer", "end_layer"):
            rec[key] = _whole(row[INFO_HEADER.index(key)], f"{where}: {key}", hi=MAX_LAYERS)
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
            planned = _whole(m.group(2), f"{where}: the planned epochs in info_str", lo=1)
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
        epoch = _whole(row[0], f"{path.name} line {n}: epoch") + 1  # theirs from 0, ours "epochs trained"
        loss[epoch] = [_number(x, f"{path.name} line {n}: ortho loss", lo=0, hi=1e6) for x in row[1:1 + layers]]
        score[epoch] = [_number(x, f"{path.name} line {n}: ortho score", lo=0, hi=1e6) for x in row[1 + layers:]]
    return loss, score


def read_accuracy(path: Path) -> list[tuple[int, float, float, float]]:
    out = []
    for n, row in enumerate(_csv_rows(path), 1):
        if len(row) != 4:
            raise AuthorsLogsError(f"{path.name} line {n} has {len(row)} fields; their accuracy.csv has 4 "
                                   f"(epoch,train_acc,valid_acc,test_acc)")
        out.append((_whole(row[0], f"{path.name} line {n}: epoch"),
                    *(_number(x, f"{path.name} line {n}: accuracy", lo=0, hi=100) for x in row[1:])))
    return out


def read_layer_acc(path: Path, layers: int) -> list[tuple[float, float]]:
    rows = _csv_rows(path)
    if len(rows) != layers or any(len(r) != 2 for r in rows):
        raise AuthorsLogsError(f"{path.name} should hold one row per layer ({layers}) of train_acc,test_acc; it has "
                               f"{len(rows)} rows")
    return [(_number(a, f"{path.name} line {n}", lo=0, hi=100), _number(b, f"{path.name} line {n}", lo=0, hi=100))
            for n, (a, b) in enumerate(rows, 1)]


_EPOCH = re.compile(r"^Epoch (\d{1,6})\s*$")
_LAYER = re.compile(r"^(\d{1,4})\s+\((\d{1,12}), (\d{1,12})\)\s+Class (\d{1,4}): (.*)$")
_CLASS = re.compile(r"^\s+Class (\d{1,4}): (.*)$")
_NO_WEIGHTS = re.compile(r"^Layer (\d{1,4}): No weights available\s*$")
_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def read_weights(path: Path) -> tuple[dict[int, list[np.ndarray | None]], dict[int, tuple[int, int]], list[str]]:
    """{epoch: per layer W (C, K) or None where the file says "No weights available"}, each layer's (C, K), notes."""
    text = _read_text(path, MAX_WEIGHTS_BYTES)
    if not text.startswith(WEIGHTS_TITLE):
        raise AuthorsLogsError(f"{path.name} does not start with '{WEIGHTS_TITLE}': not the weights file of the "
                               f"authors' script")
    epochs: dict[int, dict[int, np.ndarray | None]] = {}
    shapes: dict[int, tuple[int, int]] = {}
    notes: list[str] = []
    epoch: int | None = None
    layer: int | None = None
    cols: list[np.ndarray] = []
    buf: str | None = None  # the text of the class column being read, until its "]"
    klass = 0

    def finish_column(n: int) -> None:
        nonlocal buf
        assert buf is not None and layer is not None
        c, k = shapes[layer]
        body = buf.strip()
        if not (body.startswith("[") and body.endswith("]")):
            raise AuthorsLogsError(f"{path.name} line {n}: layer {layer} class {klass} is not a bracketed list")
        if "..." in body:
            raise AuthorsLogsError(f"{path.name}: layer {layer} has {c} channels, which numpy summarised with '...' "
                                   f"(it prints at most 1000 values): that W cannot be read back")
        inner = body[1:-1]
        if re.search(r"nan|inf", inner, re.IGNORECASE):
            raise AuthorsLogsError(f"{path.name} line {n}: layer {layer} class {klass} holds NaN or infinite weights")
        values = _FLOAT.findall(inner)
        if len(values) != c or _FLOAT.sub("", inner).strip():
            raise AuthorsLogsError(f"{path.name} line {n}: layer {layer} class {klass} has {len(values)} weights for "
                                   f"its {c} channels")
        col = np.asarray([float(v) for v in values], dtype=np.float32)
        if col.min() < 0 or col.max() > 1 + 1e-3:
            raise AuthorsLogsError(f"{path.name} line {n}: layer {layer} holds weights outside [0, 1]; W = softmax(...)"
                                   " is a probability")
        cols.append(col)
        buf = None

    def finish_layer(n: int) -> None:
        nonlocal layer, cols
        if layer is None:
            return
        c, k = shapes[layer]
        if len(cols) != min(k, WRITTEN_CLASSES):
            raise AuthorsLogsError(f"{path.name} line {n}: epoch {epoch} layer {layer} lists {len(cols)} classes of "
                                   f"{min(k, WRITTEN_CLASSES)}: the file is cut short or edited")
        epochs[epoch][layer] = np.stack(cols, axis=1) if k <= WRITTEN_CLASSES else None
        layer, cols = None, []

    for n, line in enumerate(text.splitlines(), 1):
        if buf is not None:  # a wrapped column: numpy's continuation lines
            buf += " " + line
            if "]" in line:
                finish_column(n)
            elif len(buf) > 40 * MAX_CHANNELS:
                raise AuthorsLogsError(f"{path.name} line {n}: a list of weights that never closes")
            continue
        if m := _EPOCH.match(line):
            finish_layer(n)
            epoch = _whole(m.group(1), f"{path.name} line {n}: epoch")
            if epoch in epochs:
                raise AuthorsLogsError(f"{path.name} line {n}: epoch {epoch} appears twice")
            if len(epochs) >= MAX_EPOCHS:
                raise AuthorsLogsError(f"{path.name} holds more than {MAX_EPOCHS} epochs")
            epochs[epoch] = {}
        elif m := _LAYER.match(line):
            finish_layer(n)
            if epoch is None:
                raise AuthorsLogsError(f"{path.name} line {n}: a layer before any 'Epoch N' line")
            layer, c, k, klass = (int(g) for g in m.groups()[:4])
            if layer != len(epochs[epoch]) or layer >= MAX_LAYERS:
                raise AuthorsLogsError(f"{path.name} line {n}: layer {layer} where layer {len(epochs[epoch])} was "
                                       f"expected (at most {MAX_LAYERS} layers)")
            if not (1 <= c <= MAX_CHANNELS and 2 <= k <= MAX_CLASSES):
                raise AuthorsLogsError(f"{path.name} line {n}: layer {layer} has shape ({c}, {k}); at most "
                                       f"{MAX_CHANNELS} channels and {MAX_CLASSES} classes are accepted")
            if shapes.setdefault(layer, (c, k)) != (c, k):
                raise AuthorsLogsError(f"{path.name} line {n}: layer {layer} is {(c, k)} here and {shapes[layer]} "
                                       f"at an earlier epoch")
            if klass != 0:
                raise AuthorsLogsError(f"{path.name} line {n}: a layer's first class must be Class 0")
            buf = m.group(5)
            if "]" in buf:
                finish_column(n)
        elif m := _CLASS.match(line):
            if layer is None or int(m.group(1)) != len(cols):
                raise AuthorsLogsError(f"{path.name} line {n}: Class {m.group(1)} out of place")
            klass = int(m.group(1))
            buf = m.group(2)
            if "]" in buf:
                finish_column(n)
        elif m := _NO_WEIGHTS.match(line):
            finish_layer(n)
            if epoch is None:
                raise AuthorsLogsError(f"{path.name} line {n}: a layer before any 'Epoch N' line")
            if int(m.group(1)) != len(epochs[epoch]):
                raise AuthorsLogsError(f"{path.name} line {n}: layer {m.group(1)} out of order")
            epochs[epoch][int(m.group(1))] = None
        elif line.startswith("-" * 20) or line.startswith("=" * 20) or not line.strip() or n <= 5 or \
                line.startswith("Layer    Shape"):
            if line.startswith("-" * 20):
                finish_layer(n)
        else:
            raise AuthorsLogsError(f"{path.name} line {n} is not part of their weights file: {line[:60]!r}")
    if buf is not None:
        raise AuthorsLogsError(f"{path.name} ends inside a list of weights: the file is cut short")
    finish_layer(len(text.splitlines()))
    if not shapes:
        raise AuthorsLogsError(f"{path.name} holds no layer's weights")
    layers = len(shapes)
    out: dict[int, list[np.ndarray | None]] = {}
    for ep, per_layer in epochs.items():
        if len(per_layer) != layers:
            raise AuthorsLogsError(f"{path.name}: epoch {ep} lists {len(per_layer)} layers, other epochs {layers}")
        out[ep] = [per_layer[i] for i in range(layers)]
    k = shapes[0][1]
    if k > WRITTEN_CLASSES:
        notes.append(f"their weights file holds only the first {WRITTEN_CLASSES} of the {k} classes, so W is not "
                     f"shown")
    return out, shapes, notes


def read_logs(folder: Path | str) -> AuthorsLogs:
    """Every file of a folder of their logs, read and checked; AuthorsLogsError on the first thing that is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AuthorsLogsError(f"{folder} is not a folder; give the folder that holds info_17L.csv and the other logs")
    info_path = _find(folder, "info_*.csv", "info", required=True)
    losses_path = _find(folder, "layer_losses_*.csv", "layer-loss", required=True)
    weights_path = _find(folder, "all_epochs_layer_weights.txt", "weights", required=True)
    info, planned = read_info(info_path)
    losses = read_layer_losses(losses_path)
    weights, shapes, notes = read_weights(weights_path)
    layers = len(shapes)
    if losses and len(losses[0]) != layers:
        raise AuthorsLogsError(f"{losses_path.name} has {len(losses[0])} layers, {weights_path.name} {layers}: not "
                               f"one run's files")
    if len(losses) > len(info):
        raise AuthorsLogsError(f"{losses_path.name} has {len(losses)} epochs of losses, {info_path.name} only "
                               f"{len(info)} epochs: not one run's files")
    if (n := int(info[0]["end_layer"])) >= layers:
        raise AuthorsLogsError(f"{info_path.name} names layer {n}; the weights file has {layers} layers")
    logs = AuthorsLogs(info=info, planned_epochs=planned, layer_losses=losses, shapes=[shapes[i] for i in
                                                                                        range(layers)], notes=notes)
    logs.weights = {ep: ws for ep, ws in weights.items() if all(w is not None for w in ws) and ep <= len(info)}
    skipped = sorted(ep for ep, ws in weights.items() if ep <= len(info) and any(w is None for w in ws))
    if skipped and not notes:
        logs.notes.append(f"their weights file has no W at epoch(s) {', '.join(map(str, skipped))} (their script "
                          f"writes 'No weights available' before the first forward pass)")
    if (p := _find(folder, "ortho_metrics_*.csv", "orthogonality", required=False)) is not None:
        logs.ortho_loss, logs.ortho_score = read_ortho(p, layers)
    if (p := folder / "accuracy.csv").is_file():
        logs.accuracy = read_accuracy(p)
    if (p := folder / "layer_acc.csv").is_file():
        logs.layer_acc = read_layer_acc(p, layers)
    return logs


# ----------------------------------------------------------------------------------------------------- the run
def _widths(shapes: list[tuple[int, int]]) -> tuple[int, ...]:
    n = len(shapes)
    if n < 5 or (n - 1) % 4:
        raise AuthorsLogsError(f"the weights file has {n} layers; the authors' ResNet has 1 + 4*S (17 for "
                               f"ResNet-17): the TinyCNN and VGG scripts' logs are not read")
    return tuple(shapes[1 + 4 * s][0] for s in range((n - 1) // 4))


def guess_dataset(folder: Path, num_classes: int) -> tuple[str, str]:
    """(dataset, where that came from): their results folder's name "<time>_<task>_<arch>", else a guess from K."""
    parts = folder.resolve().name.lower().split("_")
    for part in parts[1:]:
        if part in _TASKS and DATASETS[_TASKS[part]].num_classes == num_classes:
            return _TASKS[part], f"the folder's name ({folder.resolve().name})"
    name = _BY_CLASSES.get(num_classes, "cifar10")
    return name, f"unknown: not in the logs; ResNet_{name.upper().replace('-', '_')}.py's dataset for {num_classes} " \
                 f"classes is shown"


def logs_config(logs: AuthorsLogs, *, dataset: str) -> RunConfig:
    """The RunConfig that describes their run as far as the logs tell (the rest: their script's own values)."""
    widths = _widths(logs.shapes)
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
_UNKNOWN = "unknown: not in the logs; the value of ResNet_CIFAR10.py at c4514393 is shown"


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


def _snapshot(epoch: int, ws: list[np.ndarray]) -> Snapshot:
    k = ws[0].shape[1]
    empty = np.zeros(0, dtype=np.int64)
    return Snapshot(epoch=epoch, w=ws, probe_index=empty, probe_y=empty,
                    probe_g=[np.zeros((0, k), np.float32) for _ in ws],
                    probe_p=[np.zeros((0, w.shape[0]), np.float32) for w in ws], val_pred=empty, val_y=empty)


def import_logs(folder: Path | str, runs_root: Path | str, *, dataset: str | None = None,
                name: str | None = None) -> Path:
    """Read, check and write a folder of the authors' logs as a finished ffviz run under runs_root."""
    folder = Path(folder)
    logs = read_logs(folder)
    if len(logs.weights) > MAX_SNAPSHOT_FILES:  # refused before a snapshot is written
        raise AuthorsLogsError(f"their weights file holds W at {len(logs.weights):,} epochs; a run holds at most "
                               f"{MAX_SNAPSHOT_FILES:,} snapshots")
    k = logs.shapes[0][1]
    if dataset:
        try:
            cfg_ds, ds_source = RunConfig(dataset=dataset).dataset, "given on import"
        except ValueError as e:
            raise AuthorsLogsError(str(e)) from None
        if DATASETS[cfg_ds].num_classes != k:
            raise AuthorsLogsError(f"{cfg_ds} has {DATASETS[cfg_ds].num_classes} classes; these logs have {k}")
    else:
        cfg_ds, ds_source = guess_dataset(folder, k)
    cfg = logs_config(logs, dataset=cfg_ds)
    sources = {f: CONFIG_FROM_LOGS.get(f, _UNKNOWN) for f in ("preset", "widths", "epochs", "mode", "lr", "lr_min",
                                                              "weight_decay", "batch_size", "lambda_entropy",
                                                              "lambda_orth", "orth_scaling", "seed")}
    sources["dataset"] = ds_source
    widths = "/".join(map(str, _widths(logs.shapes)))
    sources["preset"] = f"all_epochs_layer_weights.txt (the layers' shapes: widths {widths})"
    if not cfg.widths:  # a preset of those widths: the preset says them
        sources.pop("widths")
    title = name or f"authors' logs {folder.resolve().name}"[:80]
    finished = logs.planned_epochs is None or len(logs.info) >= logs.planned_epochs
    eps = epoch_records(logs, cfg)
    runs_root = Path(runs_root)
    runs_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=runs_root, prefix=".import-") as tmp:
        stage = Path(tmp) / "run"
        folder_of = RunFolder(stage)
        folder_of.snapshots.mkdir(parents=True)
        atomic_write_json(folder_of.config, cfg.to_dict())
        with open(folder_of.log("epochs"), "w") as f:
            for rec in eps:
                f.write(json.dumps(records.to_dict(rec), allow_nan=True) + "\n")
        folder_of.log("batches").write_text("")
        folder_of.log("events").write_text("")
        if finished:
            atomic_write_json(folder_of.test, records.to_dict(test_record(logs)))
        for ep, ws in sorted(logs.weights.items()):
            arrays = _snapshot(ep, ws).to_arrays()
            np.savez(folder_of.snapshot(ep), **arrays)
        class_names = CLASS_NAMES.get(cfg_ds) if not ds_source.startswith("unknown") else None
        meta = {
            "name": title, "status": "finished" if finished else "stopped",
            "created": dt.datetime.now().isoformat(timespec="seconds"), "device": "unknown",
            "num_parameters": None, "num_layers": logs.num_layers, "widths": list(_widths(logs.shapes)),
            "dataset": cfg_ds if not ds_source.startswith("unknown") else f"unknown ({cfg_ds}?)",
            "num_classes": k, "class_names": class_names or [str(i) for i in range(k)], "epochs_done": len(logs.info),
            "train_time": float(sum(r["train_time"] for r in logs.info)), "pid": None, "error": None,
            "imported_from": folder.resolve().name, "source_format": "authors' CAW-Conv training logs (c4514393)",
            "snapshot_epochs": sorted(logs.weights), "config_sources": sources,
            "note": "imported from the authors' training logs: validation accuracy of their α vote and plain sum, "
                    "each layer's training loss and α, the orthogonality term and lr per epoch; W at epochs "
                    f"{', '.join(map(str, sorted(logs.weights))) or 'none'}. Not in their logs (shown as gaps): "
                    "per-layer validation accuracy, goodness, entropy, temperature." + "".join(
                        f" Note: {n}." for n in logs.notes),
        }
        atomic_write_json(folder_of.meta, meta)
        _within_upload_bounds(stage)
        run_dir = new_run_dir(runs_root, cfg, title)
        run_dir.rmdir()
        shutil.move(str(stage), run_dir)
    return run_dir


def _within_upload_bounds(stage: Path) -> None:
    """The folder it wrote passes the one check every run from outside passes (ffviz/store/run_checks.py): as many
    snapshots and as large a record log as an uploaded archive may hold, every file agreeing with the others."""
    from ffviz.store.archive import MAX_RECORDS_BYTES, MAX_UNPACKED_BYTES
    from ffviz.store.run_checks import check_run_folder

    try:
        check_run_folder(stage, max_unpacked=MAX_UNPACKED_BYTES, max_records_bytes=MAX_RECORDS_BYTES)
    except ValueError as e:
        raise AuthorsLogsError(f"these logs make a run beyond what an upload may hold: {e}") from None


def meta_sources(meta: dict[str, Any]) -> dict[str, str]:
    """The run meta's config_sources, as plain strings (empty for a run that was not imported from logs)."""
    src = meta.get("config_sources")
    if not isinstance(src, dict):
        return {}
    return {str(k)[:40]: str(v)[:200] for k, v in list(src.items())[:40]}
