"""Where a run stands, from its records, and its line in a run picker: plain Python, read by the pages and the CLI.

    reader = RunReader("runs/20261126-172000-learnable-classroom")
    p = progress(reader, run_state(reader.dir))   # epoch, batch, images/s, time left; the state: store/runstate.py
    format_seconds(p.seconds_left)                # "3 min 05 s"
    run_label(reader.dir)                         # "26 Nov 17:52 · learnable-classroom · finished"
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffviz.records import BatchRecord, EpochRecord
from ffviz.store.folder import ACTIVE
from ffviz.store.runs import RunReader
from ffviz.store.runstate import read_meta, run_state


# ---------------------------------------------------------------------------------------------------- progress
@dataclass
class Progress:
    status: str
    epochs_done: int
    epochs_total: int
    batch_in_epoch: int  # batches done in the epoch in progress
    batches_per_epoch: int | None
    images_per_sec: float | None  # recent training throughput
    seconds_left: float | None
    device: str
    step: int

    @property
    def fraction(self) -> float:
        """Overall progress in [0, 1], counting the batches of the epoch in progress."""
        if self.epochs_total <= 0:
            return 0.0
        part = 0.0
        if self.batches_per_epoch and self.epochs_done < self.epochs_total:
            part = min(self.batch_in_epoch / self.batches_per_epoch, 1.0)
        return min((self.epochs_done + part) / self.epochs_total, 1.0)


def progress(reader: RunReader, status: str, meta: dict[str, Any] | None = None) -> Progress:
    """Where a run stands, from its records: epoch and batch, recent images/s, an estimate of the time left."""
    meta = reader.meta if meta is None else meta
    cfg = reader.config
    epochs, batches = reader.epochs, reader.batches
    done = epochs[-1].epoch if epochs else 0
    total = max(cfg.epochs, done)
    split = meta.get("split_sizes")
    bpe = math.ceil(split[0] / cfg.batch_size) if split else None
    last_step = batches[-1].step if batches else 0
    epoch_step = epochs[-1].step if epochs else 0
    in_epoch = max(last_step - epoch_step, 0) if status in ACTIVE else 0
    ips = _recent_images_per_sec(batches, cfg.batch_size * cfg.batch_log_every)
    if ips is None or status not in ACTIVE:
        trained = [e.images_per_sec for e in epochs if e.images_per_sec]
        ips = trained[-1] if trained else ips
    left = None
    if status in ACTIVE:
        spe = _seconds_per_epoch(epochs, batches, bpe, cfg.batch_log_every)
        if spe is not None:
            frac = min(in_epoch / bpe, 1.0) if bpe else 0.0
            left = max(total - done - frac, 0.0) * spe
    elif status == "finished":
        left = 0.0
    device = (epochs[-1].device if epochs else None) or meta.get("device") or cfg.device
    return Progress(status=status, epochs_done=done, epochs_total=total, batch_in_epoch=in_epoch,
                    batches_per_epoch=bpe, images_per_sec=ips, seconds_left=left, device=device,
                    step=max(last_step, epoch_step))


def _recent_images_per_sec(batches: Sequence[BatchRecord], images_per_record: int, window: int = 30
                           ) -> float | None:
    recent = batches[-window:]
    if len(recent) < 2:
        return None
    dt = recent[-1].time - recent[0].time
    return (len(recent) - 1) * images_per_record / dt if dt > 0 else None


def _seconds_per_epoch(epochs: Sequence[EpochRecord], batches: Sequence[BatchRecord], bpe: int | None,
                       log_every: int) -> float | None:
    """Seconds per epoch, evaluation included: from completed epochs when there are any, else the batch rate."""
    if len(epochs) >= 2 and epochs[-1].epoch > epochs[0].epoch:
        return (epochs[-1].time - epochs[0].time) / (epochs[-1].epoch - epochs[0].epoch)
    recent = batches[-30:]
    if bpe and len(recent) >= 2 and recent[-1].time > recent[0].time:
        per_batch = (recent[-1].time - recent[0].time) / ((recent[-1].step - recent[0].step) or log_every)
        return per_batch * bpe
    return None


def format_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


# ---------------------------------------------------------------------------------------------------- run lists
def run_label(run_dir: Path, status: str | None = None, meta: dict[str, Any] | None = None) -> str:
    """A short line for the run picker: "26 Nov 17:52 · learnable-classroom · finished"."""
    meta = meta if meta is not None else read_meta(run_dir)
    status = status or run_state(run_dir, meta)
    name = run_dir.name
    try:
        when = dt.datetime.strptime(name[:15], "%Y%m%d-%H%M%S").strftime("%d %b %H:%M")
        rest = name[16:] or name
    except ValueError:
        when, rest = "", name
    return " · ".join(p for p in (when, rest, status) if p)

