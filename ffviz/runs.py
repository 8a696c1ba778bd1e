"""Run folders: what a run writes as it goes, and how anyone reads it back, even while it is still running.

    runs/20261126-172000-learnable-classroom/
        config.json        the RunConfig the run started with (live changes are events)
        meta.json          status, device, parameter count, dataset facts, error; rewritten atomically
        batches.jsonl      BatchRecord per line            (appended; a torn last line is ignored)
        epochs.jsonl       EpochRecord per line, from epoch 0
        events.jsonl       EventRecord per line
        test.json          TestRecord, once finished
        snapshots/epoch_0003.npz   Snapshot of each epoch (W of every layer, probe goodness, predictions)
        checkpoints/last.pt        after every epoch;  checkpoints/final.pt  once finished
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ffviz import records
from ffviz.checkpoint import load_checkpoint, save_checkpoint
from ffviz.config import RunConfig
from ffviz.records import BatchRecord, EpochRecord, EventRecord, Snapshot, TestRecord
from ffviz.storage import JsonlAppender, JsonlTail, atomic_write, atomic_write_json, read_json
from ffviz.trainer import Callback, Trainer
from ffviz.untrusted import clean_meta, parse_record

STATUSES = ("running", "paused", "finished", "stopped", "failed", "interrupted")
# Snapshots a RunReader keeps in memory, the least recently used dropped first: a paper-size run has hundreds of
# epochs and a resnet17 snapshot is a few MB, while a view scrubs around a handful at a time.
SNAPSHOT_CACHE = 12


def new_run_dir(root: Path | str, cfg: RunConfig, name: str | None = None) -> Path:
    """A fresh, uniquely named folder under root: <time>-<mode>-<preset>[-name]."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{cfg.mode}-{cfg.preset}" + (f"-{_slug(name)}" if name else "")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        path = root / (base if i == 0 else f"{base}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {root}")


def init_run_dir(run_dir: Path, cfg: RunConfig, *, name: str | None = None, owner: str | None = None) -> None:
    """Write the config and a "queued" meta, so the folder is a listed run before its first epoch. ``owner``: the
    session that may steer it (ffviz/access.py); none for the teacher's runs."""
    atomic_write_json(run_dir / "config.json", cfg.to_dict())
    atomic_write_json(run_dir / "meta.json", {"name": name or run_dir.name, "status": "queued",
                                              "created": dt.datetime.now().isoformat(timespec="seconds"),
                                              **({"owner": owner} if owner else {})})


def update_meta(run_dir: Path, **changes: Any) -> None:
    path = Path(run_dir) / "meta.json"
    meta = read_json(path) if path.exists() else {}
    meta.update(changes)
    atomic_write_json(path, meta)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


class RunWriter(Callback):
    """Writes everything a run emits into its folder. Resuming into an existing folder appends to it."""

    def __init__(self, run_dir: Path | str, *, name: str | None = None) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "snapshots").mkdir(exist_ok=True)
        (self.dir / "checkpoints").mkdir(exist_ok=True)
        self.name = name
        self._batches = JsonlAppender(self.dir / "batches.jsonl")
        self._epochs = JsonlAppender(self.dir / "epochs.jsonl")
        self._events = JsonlAppender(self.dir / "events.jsonl")
        self.meta: dict[str, Any] = read_json(self.dir / "meta.json") if (self.dir / "meta.json").exists() else {}

    def on_start(self, trainer: Trainer) -> None:
        if not (self.dir / "config.json").exists():
            atomic_write_json(self.dir / "config.json", trainer.cfg.to_dict())
        if trainer.epoch == 0:
            # A fresh start into this folder: drop records from an earlier attempt that never finished an epoch.
            for f in ("batches.jsonl", "epochs.jsonl"):
                (self.dir / f).write_bytes(b"")
        else:
            self._truncate_after(trainer.step, trainer.epoch)
        data = trainer.data
        self.meta.update({
            "name": self.name or self.meta.get("name") or self.dir.name, "status": "running",
            "created": self.meta.get("created") or dt.datetime.now().isoformat(timespec="seconds"),
            "device": trainer.device_name, "num_parameters": trainer.num_parameters,
            "num_layers": trainer.model.num_layers, "widths": list(trainer.model.widths),
            "dataset": data.name, "num_classes": data.num_classes, "class_names": list(data.class_names),
            "in_channels": data.in_channels, "image_size": data.image_size,
            "split_sizes": [len(data.train_y), len(data.val_y), len(data.test_y)],
            "epochs_done": trainer.epoch, "pid": os.getpid(), "error": None,
        })
        self._write_meta()

    def on_batch(self, trainer: Trainer, record: BatchRecord) -> None:
        self._batches.append(records.to_dict(record))

    def on_epoch(self, trainer: Trainer, record: EpochRecord, snapshot: Snapshot) -> None:
        arrays = snapshot.to_arrays()
        atomic_write(self.dir / "snapshots" / f"epoch_{record.epoch:04d}.npz", lambda f: np.savez(f, **arrays))
        # Order matters for a kill at any moment: the snapshot before the record (a reader that sees an epoch can
        # open its snapshot), the record before the checkpoint (a resume from an older checkpoint drops the newer
        # records and replays them, while a checkpoint newer than the records would leave a hole in the history).
        self._batches.sync()
        self._epochs.append(records.to_dict(record))
        self._epochs.sync()
        if record.epoch > 0:
            save_checkpoint(self.dir / "checkpoints" / "last.pt", trainer.state_dict())
        self.meta["epochs_done"] = record.epoch
        self._write_meta()

    def on_event(self, trainer: Trainer, record: EventRecord) -> None:
        self._events.append(records.to_dict(record))
        self._events.sync()
        status = {"pause": "paused", "resume": "running", "step": "running"}.get(record.action)
        if status and self.meta.get("status") != status:
            self.meta["status"] = status
            self._write_meta()

    def on_end(self, trainer: Trainer, status: str, test: TestRecord | None) -> None:
        if test is not None:
            atomic_write_json(self.dir / "test.json", records.to_dict(test))
            save_checkpoint(self.dir / "checkpoints" / "final.pt", trainer.state_dict())
        self.meta.update({"status": status, "error": trainer.error, "epochs_done": trainer.epoch,
                          "train_time": trainer.train_time, "pid": None,
                          "ended": dt.datetime.now().isoformat(timespec="seconds")})
        self._write_meta()
        for f in (self._batches, self._epochs, self._events):
            f.close()

    def _write_meta(self) -> None:
        atomic_write_json(self.dir / "meta.json", self.meta)

    def _truncate_after(self, step: int, epoch: int) -> None:
        """On resume, drop records written after the checkpoint (a partial epoch that will be replayed)."""
        self._batches.close()
        self._epochs.close()
        for fname, keep in (("batches.jsonl", lambda r: r["step"] <= step),
                            ("epochs.jsonl", lambda r: r["epoch"] <= epoch)):
            path = self.dir / fname
            kept = b"".join(json.dumps(r, allow_nan=True).encode() + b"\n" for r in JsonlTail(path).read_new()
                            if keep(r))
            atomic_write(path, lambda f, data=kept: f.write(data))
        self._batches = JsonlAppender(self.dir / "batches.jsonl")
        self._epochs = JsonlAppender(self.dir / "epochs.jsonl")


class RunReader:
    """Reads a run folder; ``refresh`` picks up what was appended since the last call (cheap to poll)."""

    def __init__(self, run_dir: Path | str) -> None:
        self.dir = Path(run_dir)
        if not (self.dir / "config.json").exists():
            raise FileNotFoundError(f"{self.dir} is not an ffviz run folder (no config.json)")
        self.config = RunConfig.from_dict(read_json(self.dir / "config.json"))
        self.batches: list[BatchRecord] = []
        self.epochs: list[EpochRecord] = []
        self.events: list[EventRecord] = []
        self._tails = {"batches": JsonlTail(self.dir / "batches.jsonl"),
                       "epochs": JsonlTail(self.dir / "epochs.jsonl"),
                       "events": JsonlTail(self.dir / "events.jsonl")}
        self._snapshots: OrderedDict[int, Snapshot] = OrderedDict()  # an LRU of SNAPSHOT_CACHE epochs
        self.refresh()

    def refresh(self) -> bool:
        """Read new records; True when anything arrived."""
        grew = False
        for key, tail in self._tails.items():
            rows = [rec for r in tail.read_new() if (rec := _record_or_none(r)) is not None]
            getattr(self, key).extend(rows)
            grew |= bool(rows)
        return grew

    @property
    def meta(self) -> dict[str, Any]:
        """meta.json with every known key of its documented type (a wrong one is dropped: see untrusted.clean_meta)."""
        try:
            return clean_meta(read_json(self.dir / "meta.json"))
        except (FileNotFoundError, ValueError):
            return {}

    @property
    def test(self) -> TestRecord | None:
        path = self.dir / "test.json"
        try:
            rec = parse_record(read_json(path)) if path.exists() else None
        except ValueError:
            return None
        return rec if isinstance(rec, TestRecord) else None

    def snapshot(self, epoch: int) -> Snapshot:
        """The Snapshot of one epoch, read once while it stays among the SNAPSHOT_CACHE most recently used. Not
        thread-safe on its own: the app's LiveRun calls it under its lock."""
        if epoch in self._snapshots:
            self._snapshots.move_to_end(epoch)
            return self._snapshots[epoch]
        with np.load(self.dir / "snapshots" / f"epoch_{epoch:04d}.npz") as a:
            snap = Snapshot.from_arrays(dict(a))
        self._snapshots[epoch] = snap
        while len(self._snapshots) > SNAPSHOT_CACHE:
            self._snapshots.popitem(last=False)
        return snap

    def checkpoint(self, which: str = "last") -> dict[str, Any]:
        return load_checkpoint(self.dir / "checkpoints" / f"{which}.pt")


def _record_or_none(d: Any) -> Any:
    """A record of the schema's types, or None for a line that is not one (skipped: one bad line from an upload or an
    older writer must not break every page that reads the run)."""
    try:
        return parse_record(d)
    except ValueError:
        return None


def resume(run_dir: Path | str, *, callbacks: list[Callback] | tuple[Callback, ...] = (), control=None,
           epochs: int | None = None, data=None) -> Trainer:
    """A trainer that continues the run in run_dir from its last checkpoint (optionally to more epochs)."""
    run_dir = Path(run_dir)
    # last.pt is the newest; a shipped or uploaded run may carry only final.pt.
    paths = [p for p in (run_dir / "checkpoints" / "last.pt", run_dir / "checkpoints" / "final.pt") if p.exists()]
    if not paths:
        raise FileNotFoundError(f"{run_dir} has no checkpoint to resume from (it never finished an epoch)")
    ck = load_checkpoint(paths[0])
    if epochs is not None:
        ck["config"] = {**ck["config"], "epochs": int(epochs)}
    return Trainer(RunConfig.from_dict(ck["config"]), checkpoint=ck, data=data, control=control,
                   callbacks=[RunWriter(run_dir), *callbacks])


def list_runs(root: Path | str) -> list[Path]:
    """Run folders directly under root, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if (p / "config.json").exists()), key=lambda p: p.name, reverse=True)
