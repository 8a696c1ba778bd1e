"""Reading a run folder back, even while the run is still writing it; creating one. The folder's files are named
in ffviz/store/folder.py (RunFolder), which says what each holds.

    reader = open_reader("runs/20261126-172000-learnable-classroom")  # this process's one reader; reads nothing yet
    reader.config, reader.meta                                      # the RunConfig, meta.json: no log parsed
    reader.epochs, reader.test                                      # the records, parsed on first use
    reader.refresh()                                                # what was appended since (cheap to poll)
    reader.snapshot(3), reader.w_history(layer=2)                   # epoch 3's Snapshot; {epoch: W (C, K)}

This module only reads (and creates folders): JSON, JSON lines and npz, no torch, so a server draws every page
without importing it. The writer side, ``RunWriter`` and ``resume``, lives in ffviz/runner/run_writer.py: it needs
the trainer and torch, and the store imports nothing of the runner.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ffviz.config import RunConfig
from ffviz.records import BatchRecord, EpochRecord, EventRecord, Snapshot, TestRecord
from ffviz.store import filecache
from ffviz.store.filecache import signature
from ffviz.store.folder import LOGS, RunFolder, run_folders
from ffviz.store.runstate import read_meta
from ffviz.store.storage import JsonlTail, atomic_write_json, read_json
from ffviz.store.untrusted import parse_record

SHARED_READERS = 64  # run folders whose reader a process keeps (open_reader), the least recently used dropped first


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
    """A run folder read back, the one reader every part uses (the pages, the notebook API, the CLI, the server).

    Cheap to open: the config is read on first use and the logs are parsed on first use of a record; ``refresh``
    then reads only what was appended (cheap to poll), and starts over when the logs were rewritten (a run continued
    from a checkpoint). Snapshots are read once each into a small LRU, and a layer's W over the epochs once per file.
    One reader may serve every session of a server (``open_reader``), so its reads are guarded by a lock."""

    def __init__(self, run_dir: Path | str) -> None:
        self.dir = Path(run_dir)
        self.folder = RunFolder(self.dir)
        if not self.folder.is_run():
            raise FileNotFoundError(f"{self.dir} is not an ffviz run folder (no {RunFolder.CONFIG})")
        self._lock = threading.RLock()
        self._config: RunConfig | None = None
        self._logs: dict[str, list[Any]] | None = None  # None until a record is first asked for
        self._tails: dict[str, JsonlTail] = {}
        self._files: tuple[int, ...] = ()

    def __repr__(self) -> str:
        return f"RunReader({str(self.dir)!r})"

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def config(self) -> RunConfig:
        """The RunConfig the run started with (config.json), read once."""
        if self._config is None:
            self._config = RunConfig.from_dict(read_json(self.folder.config))
        return self._config

    @property
    def meta(self) -> dict[str, Any]:
        """meta.json, its known keys of their types (ffviz/store/runstate.py reads it, parsed once while unchanged)."""
        return read_meta(self.dir)

    # ------------------------------------------------------------------------------------------- records
    def refresh(self) -> bool:
        """Read what was appended since the last call; start over if the logs were rewritten. True when anything
        arrived."""
        with self._lock:
            ident = self._identity()
            if self._logs is None or ident != self._files:
                self._files, self._config = ident, None  # a continued run may have rewritten its config too
                self._logs = {kind: [] for kind in LOGS}
                self._tails = {kind: JsonlTail(self.folder.log(kind)) for kind in LOGS}
            grew = False
            for kind, tail in self._tails.items():
                for row in tail.read_new():
                    try:
                        self._logs[kind].append(parse_record(row))
                    except ValueError:
                        continue  # one bad line (an upload, an older writer) must not break every page that reads it
                    grew = True
            return grew

    def _identity(self) -> tuple[int, ...]:
        out = []
        for path in (self.folder.log("batches"), self.folder.log("epochs"), self.folder.config):
            try:
                out.append(path.stat().st_ino)
            except FileNotFoundError:
                out.append(0)
        return tuple(out)

    def _log(self, kind: str) -> list[Any]:
        if self._logs is None:
            self.refresh()
        assert self._logs is not None
        return self._logs[kind]

    @property
    def batches(self) -> list[BatchRecord]:
        return self._log("batches")

    @property
    def epochs(self) -> list[EpochRecord]:
        return self._log("epochs")

    @property
    def events(self) -> list[EventRecord]:
        return self._log("events")

    @property
    def version(self) -> tuple[int, int, int]:
        """Changes whenever a record arrives: a key for caching what is built from the records."""
        return len(self.batches), len(self.epochs), len(self.events)

    def epoch(self, epoch: int) -> EpochRecord | None:
        return next((e for e in reversed(self.epochs) if e.epoch == epoch), None)

    @property
    def test(self) -> TestRecord | None:
        path = self.folder.test
        try:
            rec = parse_record(read_json(path)) if path.exists() else None
        except ValueError:
            return None
        return rec if isinstance(rec, TestRecord) else None

    # ----------------------------------------------------------------------------------------- snapshots
    @property
    def view_epochs(self) -> list[int]:
        """The epochs a view page scrubs, those with a snapshot: every epoch of a run ffviz trained; for a run
        imported from the authors' logs (ffviz/interop/authors_logs.py), the epochs their weights file holds (its
        meta.json's snapshot_epochs)."""
        epochs = [e.epoch for e in self.epochs]
        held = self.meta.get("snapshot_epochs")
        if not isinstance(held, list):
            return epochs
        keep = {x for x in held if isinstance(x, int)}
        return [e for e in epochs if e in keep] or epochs

    def snapshot(self, epoch: int) -> Snapshot:
        """The Snapshot of one epoch; for an epoch without one (an imported log's W every 10 epochs), the latest held
        before it. Read once while it stays in the server-wide cache, bounded in bytes (ffviz/store/filecache.py's
        ``arrays``: every session's readers together), keyed by the file's signature (a rewritten file is read
        again)."""
        held = self.view_epochs
        if held and epoch not in held:
            epoch = max((e for e in held if e <= epoch), default=held[0])
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

    def w_history(self, layer: int, epochs: Sequence[int] | None = None) -> dict[int, np.ndarray]:
        """{epoch: W (C, K)} of one layer, reading only that layer's W from each snapshot file (once while it stays
        in the server-wide cache, bounded in bytes)."""
        if epochs is None:
            epochs = self.view_epochs
        out = {}
        for ep in epochs:
            path = self.folder.snapshot(ep)
            key = ("w", str(path), signature(path), layer)
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

    def checkpoint(self, which: str = "last") -> dict[str, Any]:
        from ffviz.store.checkpoint import load_checkpoint  # torch: only where a checkpoint is really read

        return load_checkpoint(self.folder.checkpoint(which))


@functools.lru_cache(maxsize=SHARED_READERS)
def _shared(run_dir: str) -> RunReader:
    return RunReader(run_dir)


def open_reader(run_dir: Path | str) -> RunReader:
    """The reader of a run folder, one per folder in this process: a server's sessions, a page drawing many runs and
    the command line all share it. Nothing is read until asked for (``refresh()`` reads what was appended);
    FileNotFoundError when the folder holds no run."""
    path = Path(run_dir).absolute()
    if not RunFolder(path).is_run():  # gone since (deleted, retention): never a stale reader
        _shared.cache_clear()
        raise FileNotFoundError(f"{path} is not an ffviz run folder (no {RunFolder.CONFIG})")
    return _shared(str(path))


def list_runs(root: Path | str) -> list[Path]:
    """Run folders directly under root, newest first."""
    return sorted(run_folders(root), key=lambda p: p.name, reverse=True)


def owner_of(meta: Mapping[str, Any]) -> str | None:
    """The token that owns a run (meta.json's "owner"); None for the teacher's runs (the command line's, the
    shipped ones)."""
    owner = meta.get("owner")
    return owner if isinstance(owner, str) and owner else None
