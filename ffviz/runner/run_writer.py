"""The writer side of a run folder: what a run records as it goes.

    trainer = Trainer(cfg, callbacks=[RunWriter(run_dir)])      # writes the folder described in ffviz/store/folder.py

A trainer opened from a folder as it stands (its checkpoint, else its config.json) is ffviz/runner/run_process.py's.

Kept apart from ffviz/store/runs.py (the readers) because it needs the trainer and torch, which a server drawing pages
never imports.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np

from ffviz import records
from ffviz.data import DataSplits
from ffviz.data.display import image_for_display
from ffviz.method.trainer import Callback, RunBoundError, Trainer
from ffviz.records import BatchRecord, EpochRecord, EventRecord, Snapshot, TestRecord
from ffviz.runner.threads import describe as describe_threads
from ffviz.store.checkpoint import save_checkpoint
from ffviz.store.folder import RunFolder
from ffviz.store.stage import write_stage
from ffviz.store.storage import JsonlAppender, JsonlTail, atomic_write, atomic_write_json, read_json

PROBES = RunFolder.PROBES  # the probe images' pixels, uint8: a page shows them without the dataset (or torch)


CHECK_EVERY_BATCHES = 200  # between epochs, the run folder's disk is measured this often (a few stat calls)


def _folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def write_probes(run_dir: Path, data: DataSplits, probe_size: int) -> None:
    """The first probe_size validation images (the ones every snapshot's probe_index points at) as display pixels:
    pixels (N, H, W) or (N, H, W, 3) uint8."""
    probe = min(probe_size, len(data.val_y))
    x = data.val_x[:probe].detach().float().cpu().numpy()  # (N, C, H, W), normalised
    pixels = np.stack([image_for_display(img, data.mean, data.std) for img in x]) if probe else np.zeros((0, 1, 1))
    atomic_write(RunFolder(run_dir).probes, lambda f: np.savez_compressed(f, pixels=pixels.astype(np.uint8)))


class RunWriter(Callback):
    """Writes everything a run emits into its folder. Resuming into an existing folder appends to it."""

    def __init__(self, run_dir: Path | str, *, name: str | None = None) -> None:
        self.dir = Path(run_dir)
        self.folder = f = RunFolder(self.dir)
        f.make_dirs()
        self.name = name
        self._batches = JsonlAppender(f.log("batches"))
        self._epochs = JsonlAppender(f.log("epochs"))
        self._events = JsonlAppender(f.log("events"))
        self.meta: dict[str, Any] = read_json(f.meta) if f.meta.exists() else {}
        self._batches_since_check = 0

    def on_start(self, trainer: Trainer) -> None:
        if not self.folder.is_run():
            atomic_write_json(self.folder.config, trainer.cfg.to_dict())
        if trainer.epoch == 0:
            # A fresh start into this folder: drop records from an earlier attempt that never finished an epoch.
            for kind in ("batches", "epochs"):
                self.folder.log(kind).write_bytes(b"")
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
            "epochs_done": trainer.epoch, "pid": os.getpid(), "host": socket.gethostname(), "error": None,
            "threads": describe_threads(),  # its CPU threads, and how they wait (ffviz/runner/threads.py)
            # compiled CPU kernels or eager, bf16 convolutions or not, and why (ffviz/method/fast/kernels.py)
            "kernels": getattr(trainer, "kernels", None),
        })
        self._write_meta()
        if not self.folder.probes.exists():
            write_probes(self.dir, trainer.data, trainer.cfg.probe_size)
        if trainer.step == 0:
            write_stage(self.dir, "first_batch")  # the data is in, the network built: the page says so

    def on_batch(self, trainer: Trainer, record: BatchRecord) -> None:
        self._batches.append(records.to_dict(record))
        self._batches_since_check += 1
        if self._batches_since_check >= CHECK_EVERY_BATCHES:
            self._check_disk()

    def on_epoch(self, trainer: Trainer, record: EpochRecord, snapshot: Snapshot) -> None:
        arrays = snapshot.to_arrays()
        atomic_write(self.folder.snapshot(record.epoch), lambda f: np.savez(f, **arrays))
        # Order matters for a kill at any moment: the snapshot before the record (a reader that sees an epoch can
        # open its snapshot), the record before the checkpoint (a resume from an older checkpoint drops the newer
        # records and replays them, while a checkpoint newer than the records would leave a hole in the history).
        self._batches.sync()
        self._epochs.append(records.to_dict(record))
        self._epochs.sync()
        if record.epoch > 0:
            save_checkpoint(self.folder.checkpoint("last"), trainer.state_dict())
        self.meta["epochs_done"] = record.epoch
        self._write_meta()
        self._check_disk()

    def _check_disk(self) -> None:
        """Stop the run once its folder is beyond the disk the server gave it (meta.json's max_bytes, written when
        the app started it; a command-line run has none and is unbounded). Checked after every epoch's snapshot and
        checkpoint and every CHECK_EVERY_BATCHES batches."""
        self._batches_since_check = 0
        bound = self.meta.get("max_bytes")
        if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
            return
        used = _folder_bytes(self.dir)
        if used > bound:
            raise RunBoundError(f"this run's folder reached {used / 2**20:.0f} MiB, beyond the {bound / 2**20:.0f} MiB "
                                "this server gives one run (its limit max_run_bytes); it stopped here, and what it "
                                "recorded stays. Train fewer epochs or a smaller network, or ask the teacher to "
                                "raise the limit.")

    def on_event(self, trainer: Trainer, record: EventRecord) -> None:
        self._events.append(records.to_dict(record))
        self._events.sync()
        status = {"pause": "paused", "resume": "running", "step": "running"}.get(record.action)
        if status and self.meta.get("status") != status:
            self.meta["status"] = status
            self._write_meta()

    def on_end(self, trainer: Trainer, status: str, test: TestRecord | None) -> None:
        if test is not None:
            atomic_write_json(self.folder.test, records.to_dict(test))
            save_checkpoint(self.folder.checkpoint("final"), trainer.state_dict())
        self.meta.update({"status": status, "error": trainer.error, "epochs_done": trainer.epoch,
                          "train_time": trainer.train_time, "pid": None,
                          "ended": dt.datetime.now().isoformat(timespec="seconds")})
        self._write_meta()
        for f in (self._batches, self._epochs, self._events):
            f.close()

    def _write_meta(self) -> None:
        atomic_write_json(self.folder.meta, self.meta)

    def _truncate_after(self, step: int, epoch: int) -> None:
        """On resume, drop records written after the checkpoint (a partial epoch that will be replayed)."""
        self._batches.close()
        self._epochs.close()
        for kind, keep in (("batches", lambda r: r["step"] <= step), ("epochs", lambda r: r["epoch"] <= epoch)):
            path = self.folder.log(kind)
            kept = b"".join(json.dumps(r, allow_nan=True).encode() + b"\n" for r in JsonlTail(path).read_new()
                            if keep(r))
            atomic_write(path, lambda f, data=kept: f.write(data))
        self._batches = JsonlAppender(self.folder.log("batches"))
        self._epochs = JsonlAppender(self.folder.log("epochs"))
