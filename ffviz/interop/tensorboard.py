"""ffviz runs as TensorBoard event files, written after the fact or live as a run trains.

    python -m ffviz export --tensorboard tb/ runs/<run> [runs/<run> ...]    # one event folder per run: tb/<run>/
    python -m ffviz train --preset classroom --tensorboard tb/              # live; tensorboard --logdir tb/

The writer is torch.utils.tensorboard's SummaryWriter with the ``tensorboard`` package (requirements.txt says why).
It is imported only here, inside the functions that write, so ``import ffviz`` and the app's server never load it.

What a run becomes, per epoch (the step is the epoch, 0 = untrained):
    accuracy/val_alpha, val_sum, val_last, val_best_layer     the ensembles on the validation split, %
    layer_LL/val_acc, val_loss, train_loss, train_acc         each layer's accuracy (%) and cross-entropy
    alpha/layer_LL, temperature/layer_LL                      the layer contributions and T_e per layer
    regularizer/<name>/layer_LL, regularizer_weighted/...     each regularizer's raw R(W) and as weighted in the loss
    lambda/<name>, schedule/<name>                            each regularizer's λ and its schedule (warm-up)
    train/lr, train/images_per_sec, train/loss                the learning rate, throughput and total loss
    W/layer_LL (image), W_hist/layer_LL (histogram)           each layer's W at each epoch with a snapshot
    batch/loss (step = batch), test/... (once, at the last epoch), and the config as text.
The W image shows channels as rows and classes as columns, dark where a channel votes for a class (as the app's
heatmap), each cell enlarged to a few pixels. NaN values (a static run's temperature, an imported log's gaps) are
left out: TensorBoard would draw them as breaks anyway.

The run folder is read as any upload is (records type-checked by RunReader, snapshots' headers checked before they
are loaded), so a hostile folder is refused with a message, not a crash.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ffviz.method.trainer import Callback, Trainer
from ffviz.records import BatchRecord, EpochRecord, Snapshot, TestRecord
from ffviz.store.folder import RunFolder
from ffviz.store.runs import open_reader

MAX_IMAGE_PIXELS = 2_000_000  # one W image (C*K cells, enlarged); a larger W is drawn at one pixel per cell
MAX_SNAPSHOT_BYTES = 256 * 2**20


class ExportError(ValueError):
    """A run folder that cannot be exported; the message says why."""


def _summary_writer(log_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter  # lazy: loads tensorboard's protobufs (and torch)

    return SummaryWriter(log_dir=str(log_dir), flush_secs=10)


def _scalar(writer: Any, tag: str, value: Any, step: int) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        writer.add_scalar(tag, float(value), step)


def _per_layer(writer: Any, tag: str, values: list[float] | None, step: int) -> None:
    for i, v in enumerate(values or []):
        _scalar(writer, tag.format(layer=f"layer_{i:02d}"), v, step)


def w_image(w: np.ndarray) -> np.ndarray:
    """(C, K) W as an (H, W) uint8 image: dark where W is high (scaled to its largest value), cells enlarged."""
    w = np.nan_to_num(np.asarray(w, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    c, k = w.shape
    top = float(w.max()) if w.size and w.max() > 0 else 1.0
    img = (255 * (1 - np.clip(w / top, 0, 1))).astype(np.uint8)
    sx = max(1, min(24, 240 // max(k, 1)))
    sy = max(1, min(8, 480 // max(c, 1)))
    if c * k * sx * sy > MAX_IMAGE_PIXELS:
        sx = sy = 1
    return np.repeat(np.repeat(img, sy, axis=0), sx, axis=1)


def write_epoch(writer: Any, rec: EpochRecord, snapshot: Snapshot | None) -> None:
    """Everything one epoch record (and its snapshot, when there is one) says, at step = its epoch."""
    s = rec.epoch
    for tag, v in (("accuracy/val_alpha", rec.acc_alpha), ("accuracy/val_sum", rec.acc_sum),
                   ("accuracy/val_last", rec.acc_last), ("accuracy/val_best_layer", rec.acc_best_layer),
                   ("train/lr", rec.lr), ("train/images_per_sec", rec.images_per_sec), ("train/loss", rec.train_loss),
                   ("train/epoch_seconds", rec.epoch_seconds),
                   *((f"lambda/{name}", v) for name, v in (rec.lambdas or {}).items()),
                   *((f"schedule/{name}", v) for name, v in (rec.schedules or {}).items())):
        _scalar(writer, tag, v, s)
    _per_layer(writer, "{layer}/val_acc", rec.val_acc, s)
    _per_layer(writer, "{layer}/val_loss", rec.val_ce, s)
    _per_layer(writer, "{layer}/train_loss", rec.train_ce, s)
    _per_layer(writer, "{layer}/train_acc", rec.train_acc, s)
    _per_layer(writer, "alpha/{layer}", rec.alpha, s)
    _per_layer(writer, "temperature/{layer}", rec.temperature, s)
    for name, values in (rec.train_terms or {}).items():
        _per_layer(writer, f"regularizer/{name}/{{layer}}", values, s)
    for name, values in (rec.train_terms_w or {}).items():
        _per_layer(writer, f"regularizer_weighted/{name}/{{layer}}", values, s)
    if snapshot is not None:
        for i, w in enumerate(snapshot.w):
            writer.add_image(f"W/layer_{i:02d}", w_image(w), s, dataformats="HW")
            finite = np.asarray(w, dtype=np.float64)
            finite = finite[np.isfinite(finite)]
            if finite.size:
                writer.add_histogram(f"W_hist/layer_{i:02d}", finite, s)


def write_test(writer: Any, test: TestRecord) -> None:
    for tag, v in (("test/acc_alpha", test.acc_alpha), ("test/acc_sum", test.acc_sum),
                   ("test/acc_last", test.acc_last), ("test/acc_best_layer", test.acc_best_layer)):
        _scalar(writer, tag, v, test.epoch)
    _per_layer(writer, "{layer}/test_acc", test.layer_acc, test.epoch)


def _config_text(config: dict[str, Any]) -> str:
    return "\n".join(f"    {k}: {json.dumps(v)}" for k, v in config.items())  # indented: markdown code block


def export_run(run_dir: Path | str, out_root: Path | str, *, overwrite: bool = False) -> Path:
    """Write the run in run_dir as TensorBoard event files in out_root/<run folder name>/; returns that folder."""
    from ffviz.store.untrusted import check_npz

    run_dir = Path(run_dir)
    try:
        reader = open_reader(run_dir)
    except (FileNotFoundError, ValueError, TypeError, OSError) as e:
        raise ExportError(f"{run_dir} cannot be exported: {e}") from None
    if not reader.epochs:
        raise ExportError(f"{run_dir.name} has no epoch record yet: nothing to export")
    out = Path(out_root) / run_dir.name
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ExportError(f"{out} exists already; remove it, or pass --overwrite to replace its event files")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    writer = _summary_writer(out)
    try:
        writer.add_text("config", _config_text(reader.config.to_dict()), 0)
        note = reader.meta.get("note")
        if note:
            writer.add_text("note", str(note)[:2000], 0)
        for b in reader.batches:
            _scalar(writer, "batch/loss", b.loss, b.step)
        for rec in reader.epochs:
            path = RunFolder(run_dir).snapshot(rec.epoch)
            snapshot = None
            if path.exists():
                try:
                    check_npz(path, max_bytes=MAX_SNAPSHOT_BYTES)
                    snapshot = reader.snapshot(rec.epoch)
                except (ValueError, KeyError, OSError) as e:
                    raise ExportError(f"{run_dir.name}: snapshot of epoch {rec.epoch} is not readable: {e}") from None
            write_epoch(writer, rec, snapshot)
        if reader.test is not None:
            write_test(writer, reader.test)
    finally:
        writer.close()
    return out


class TensorBoardCallback(Callback):
    """Writes a run's records as TensorBoard event files as it trains: log_root/<name>/ (``train --tensorboard``)."""

    def __init__(self, log_root: Path | str, name: str) -> None:
        self.dir = Path(log_root) / name
        self.writer: Any = None

    def on_start(self, trainer: Trainer) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.writer = _summary_writer(self.dir)
        self.writer.add_text("config", _config_text(trainer.cfg.to_dict()), trainer.epoch)

    def on_batch(self, trainer: Trainer, record: BatchRecord) -> None:
        _scalar(self.writer, "batch/loss", record.loss, record.step)

    def on_epoch(self, trainer: Trainer, record: EpochRecord, snapshot: Snapshot) -> None:
        write_epoch(self.writer, record, snapshot)
        self.writer.flush()  # TensorBoard follows the run epoch by epoch

    def on_end(self, trainer: Trainer, status: str, test: TestRecord | None) -> None:
        if self.writer is None:
            return
        if test is not None:
            write_test(self.writer, test)
        self.writer.close()
