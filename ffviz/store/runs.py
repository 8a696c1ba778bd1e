"""Reading a run folder back, even while the run is still writing it; creating one. The folder's files are named
in ffviz/store/folder.py (RunFolder), which says what each holds.

    reader = RunReader("runs/20261126-172000-learnable-classroom")
    reader.config, reader.meta, reader.epochs, reader.test          # the RunConfig, meta.json, records
    reader.refresh()                                                # what was appended since (cheap to poll)
    reader.snapshot(3)                                              # the Snapshot of epoch 3

This module only reads (and creates folders): JSON, JSON lines and npz, no torch, so a server draws every page
without importing it. The writer side, ``RunWriter`` and ``resume``, lives in ffviz/runner/run_writer.py: it needs
the trainer and torch, and the store imports nothing of the runner.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ffviz.config import RunConfig
from ffviz.records import BatchRecord, EpochRecord, EventRecord, Snapshot, TestRecord
from ffviz.store import filecache
from ffviz.store.filecache import cached_json, signature
from ffviz.store.folder import LOGS, RunFolder, run_folders
from ffviz.store.storage import JsonlTail, atomic_write_json, read_json
from ffviz.store.untrusted import clean_meta, parse_record


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


def init_run_dir(run_dir: Path, cfg: RunConfig, *, name: str | None = None, owner: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
    """Write the config and a "queued" meta, so the folder is a listed run before its first epoch. ``queued_at``
    orders the on-disk queue (ffviz/store/runstate.py); ``owner``: the session that may steer it
    (ffviz/server/access.py), none for the teacher's runs."""
    folder = RunFolder(run_dir)
    atomic_write_json(folder.config, cfg.to_dict())
    meta = {"name": name or run_dir.name, "status": "queued", "queued_at": time.time(),
            "created": dt.datetime.now().isoformat(timespec="seconds")}
    meta.update(extra or {})  # in the same write: a run process that starts at once reads them all
    if owner:
        meta["owner"] = owner
    atomic_write_json(folder.meta, meta)


def update_meta(run_dir: Path, **changes: Any) -> None:
    path = RunFolder(run_dir).meta
    meta = read_json(path) if path.exists() else {}
    meta.update(changes)
    atomic_write_json(path, meta)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


class RunReader:
    """Reads a run folder; ``refresh`` picks up what was appended since the last call (cheap to poll)."""

    def __init__(self, run_dir: Path | str) -> None:
        self.dir = Path(run_dir)
        self.folder = RunFolder(self.dir)
        if not self.folder.is_run():
            raise FileNotFoundError(f"{self.dir} is not an ffviz run folder (no {RunFolder.CONFIG})")
        self.config = RunConfig.from_dict(read_json(self.folder.config))
        self.batches: list[BatchRecord] = []
        self.epochs: list[EpochRecord] = []
        self.events: list[EventRecord] = []
        self._tails = {kind: JsonlTail(self.folder.log(kind)) for kind in LOGS}
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
        return clean_run_meta(self.dir)

    @property
    def test(self) -> TestRecord | None:
        path = self.folder.test
        try:
            rec = parse_record(read_json(path)) if path.exists() else None
        except ValueError:
            return None
        return rec if isinstance(rec, TestRecord) else None

    def snapshot(self, epoch: int) -> Snapshot:
        """The Snapshot of one epoch, read once while it stays in the server-wide cache, bounded in bytes
        (ffviz/store/filecache.py's ``arrays``) and keyed by the file's signature (a rewritten file is read again)."""
        path = self.folder.snapshot(epoch)
        key = ("snapshot", str(path), signature(path))
        snap = filecache.arrays.get(key)
        if snap is None:
            with np.load(path) as a:
                snap = Snapshot.from_arrays(dict(a))
            nbytes = sum(x.nbytes for x in (*snap.w, *snap.probe_g, *snap.probe_p, snap.probe_index, snap.probe_y,
                                            snap.val_pred, snap.val_y))
            filecache.arrays.put(key, snap, nbytes)
        return snap

    def checkpoint(self, which: str = "last") -> dict[str, Any]:
        from ffviz.store.checkpoint import load_checkpoint  # torch: only where a checkpoint is really read

        return load_checkpoint(self.folder.checkpoint(which))


def _record_or_none(d: Any) -> Any:
    """A record of the schema's types, or None for a line that is not one (skipped: one bad line from an upload or an
    older writer must not break every page that reads the run)."""
    try:
        return parse_record(d)
    except ValueError:
        return None


def clean_run_meta(run_dir: Path | str) -> dict[str, Any]:
    """meta.json with every known key of its documented type (a wrong one is dropped: see untrusted.clean_meta); {}
    when there is none or it does not read. Parsed once while unchanged: pages read every run's meta on every draw."""
    try:
        return clean_meta(cached_json(RunFolder(run_dir).meta))
    except (OSError, ValueError):
        return {}


def list_runs(root: Path | str) -> list[Path]:
    """Run folders directly under root, newest first."""
    return sorted(run_folders(root), key=lambda p: p.name, reverse=True)


def owner_of(meta: Mapping[str, Any]) -> str | None:
    """The token that owns a run (meta.json's "owner"); None for the teacher's runs (the command line's, the
    shipped ones)."""
    owner = meta.get("owner")
    return owner if isinstance(owner, str) and owner else None
