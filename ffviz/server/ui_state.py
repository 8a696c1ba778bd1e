"""What the app's pages need from a run folder, as plain Python: no Streamlit here, so it is tested without a UI.

    live = LiveRun("runs/20261126-172000-learnable-classroom")
    live.refresh()                       # reads only the lines appended since the last call (cheap to poll)
    p = progress(live, run_state(live.dir))     # the run's state: ffviz/store/runstate.py, the one authority
    w = live.w_history(layer=2)          # {epoch: (C, K)} read lazily from the snapshots, one array each

One LiveRun per run folder serves every session of a server (the app keeps them in a resource cache), so its
reads are guarded by a lock. Snapshots and W histories are cached server-wide, bounded in bytes
(ffviz/store/filecache.py's arrays).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ffviz.config import RunConfig
from ffviz.records import BatchRecord, EpochRecord, EventRecord, Snapshot, TestRecord
from ffviz.store import filecache
from ffviz.store.filecache import signature
from ffviz.store.folder import RunFolder
from ffviz.store.runs import RunReader, clean_run_meta
from ffviz.store.runstate import (
    ACTIVE as ACTIVE,  # re-exported for the pages: the states in which a run may still write
)
from ffviz.store.runstate import run_state

RUNS_ENV = "FFVIZ_RUNS_DIR"


def runs_root(repo_root: Path | str | None = None) -> Path:
    """Where the app keeps its runs: $FFVIZ_RUNS_DIR, else runs/ in the repository."""
    env = os.environ.get(RUNS_ENV)
    if env:
        return Path(env).expanduser().absolute()
    base = Path(repo_root) if repo_root is not None else Path(__file__).resolve().parents[2]
    return base / "runs"


# ---------------------------------------------------------------------------------------------------- live reads
class LiveRun:
    """A run as the pages read it: its config, meta, records and test (a RunReader's, kept fresh by ``refresh``),
    plus the lazily loaded, cached per-epoch arrays the views scrub. Shared by all sessions of a server; the pages
    use it directly (``lr.config``, ``lr.meta``), never the reader inside."""

    def __init__(self, run_dir: Path | str) -> None:
        self.dir = Path(run_dir)
        self.reader = RunReader(self.dir)
        self._lock = threading.RLock()
        self._files = self._identity()

    @property
    def run_id(self) -> str:
        return self.dir.name

    def refresh(self) -> bool:
        """Read what was appended; start over if the logs were rewritten (a run continued from a checkpoint)."""
        with self._lock:
            ident = self._identity()
            if ident != self._files:
                self._files = ident
                self.reader = RunReader(self.dir)  # its snapshot cache starts empty too
                return True
            return self.reader.refresh()

    def _identity(self) -> tuple[int, ...]:
        out = []
        for kind in ("batches", "epochs"):
            try:
                out.append(RunFolder(self.dir).log(kind).stat().st_ino)
            except FileNotFoundError:
                out.append(0)
        return tuple(out)

    @property
    def version(self) -> tuple[int, int, int]:
        """Changes whenever a record arrives: a key for caching what is built from the records."""
        r = self.reader
        return len(r.batches), len(r.epochs), len(r.events)

    @property
    def config(self) -> RunConfig:
        return self.reader.config

    @property
    def meta(self) -> dict[str, Any]:
        """The run's meta, its known keys of their types (parsed once while the file does not change)."""
        return self.reader.meta

    @property
    def test(self) -> TestRecord | None:
        return self.reader.test

    @property
    def epochs(self) -> list[EpochRecord]:
        return self.reader.epochs

    @property
    def batches(self) -> list[BatchRecord]:
        return self.reader.batches

    @property
    def events(self) -> list[EventRecord]:
        return self.reader.events

    def epoch(self, epoch: int) -> EpochRecord | None:
        for e in reversed(self.reader.epochs):
            if e.epoch == epoch:
                return e
        return None

    @property
    def view_epochs(self) -> list[int]:
        """The epochs a view page scrubs, those with a snapshot: every epoch of a run ffviz trained; for a run
        imported from the authors' logs (ffviz/interop/authors_logs.py), the epochs their weights file holds (its
        meta.json's snapshot_epochs)."""
        epochs = [e.epoch for e in self.reader.epochs]
        held = self.reader.meta.get("snapshot_epochs")
        if not isinstance(held, list):
            return epochs
        keep = {x for x in held if isinstance(x, int)}
        return [e for e in epochs if e in keep] or epochs

    def snapshot(self, epoch: int) -> Snapshot:
        """The Snapshot of one epoch, from the reader's small LRU; for an epoch without one (an imported log's W
        every 10 epochs), the latest held before it."""
        held = self.view_epochs
        if held and epoch not in held:
            epoch = max((e for e in held if e <= epoch), default=held[0])
        with self._lock:
            return self.reader.snapshot(epoch)

    def w_history(self, layer: int, epochs: Sequence[int] | None = None) -> dict[int, np.ndarray]:
        """{epoch: W (C, K)} of one layer, reading only that layer's W from each snapshot file (once)."""
        if epochs is None:
            epochs = self.view_epochs
        out = {}
        for ep in epochs:
            path = self._snapshot_path(ep)
            key = ("w", str(path), signature(path), layer)  # the server-wide cache, bounded in bytes
            w = filecache.arrays.get(key)
            if w is None:
                try:
                    with np.load(path) as a:
                        w = np.asarray(a[f"w_{layer}"])
                except (FileNotFoundError, KeyError):
                    continue
                filecache.arrays.put(key, w, w.nbytes)
            out[ep] = w
        return out

    def _snapshot_path(self, epoch: int) -> Path:
        return RunFolder(self.dir).snapshot(epoch)


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


def progress(reader: RunReader | LiveRun, status: str, meta: dict[str, Any] | None = None) -> Progress:
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
    meta = meta if meta is not None else clean_run_meta(run_dir)
    status = status or run_state(run_dir, meta)
    name = run_dir.name
    try:
        when = dt.datetime.strptime(name[:15], "%Y%m%d-%H%M%S").strftime("%d %b %H:%M")
        rest = name[16:] or name
    except ValueError:
        when, rest = "", name
    return " · ".join(p for p in (when, rest, status) if p)

