"""Memoise what is built from files, for as long as those files have not changed: what every page of a shared
server re-reads from the run folders (meta.json, a run's summary row) is parsed once, not once per page per session.

    folder = RunFolder(run_dir)
    meta = cached_json(folder.meta)                                            # parsed once while unchanged
    row = cached_build(("summary", run_dir), [folder.meta, folder.log("epochs")], build)

Both caches are bounded in bytes, server-wide: what every session's pages read of a run (meta.json, summary rows; the
snapshots and each layer's W history of ffviz/store/runs.py) stays within MAX_BYTES and
MAX_ARRAY_BYTES however many runs are viewed (one classmate viewing a 184 MiB upload kept +217 MiB held when the
snapshot cache was bounded by its count).

    snap = arrays.get(key) or arrays.put(key, read(), nbytes)            # the arrays' byte-bounded LRU

A file is known by its stat signature (inode, size, modification and change times). A rewrite within one tick of
the file system's clock, of the same size, into an inode freed a moment ago, would keep that signature; so an entry
is only kept when every file it was built from was already SETTLE_SECONDS old when it was read. A file that is
still being written is read afresh each time, which costs what it cost before this cache.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ffviz.store.storage import read_json

T = TypeVar("T")
SETTLE_SECONDS = 2.0
MAX_ENTRIES = 4096  # ~ a few hundred runs x a handful of entries each; an entry is a small dict or row
MAX_BYTES = 32 * 2**20  # what those entries may hold together (a parsed JSON file: ~4x its size on disk)
MAX_ARRAY_BYTES = 96 * 2**20  # snapshots and W histories of every run viewed, together
ROW_BYTES = 4096  # what a summary row or another small built value is counted as

class ByteLRU:
    """A least-recently-used map whose values are counted by the bytes they hold; beyond ``capacity`` the least
    recently used go. Thread-safe; a value larger than the capacity is not kept at all."""

    def __init__(self, capacity: int, max_entries: int = 1_000_000) -> None:
        self.capacity, self.max_entries = capacity, max_entries
        self.nbytes = 0
        self._lock = threading.Lock()
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()

    def get(self, key: Any) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: Any, value: T, nbytes: int) -> T:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            if nbytes <= self.capacity:
                self._items[key] = (value, nbytes)
                self.nbytes += nbytes
            while self._items and (self.nbytes > self.capacity or len(self._items) > self.max_entries):
                self.nbytes -= self._items.popitem(last=False)[1][1]
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)


_entries = ByteLRU(MAX_BYTES, MAX_ENTRIES)
arrays = ByteLRU(MAX_ARRAY_BYTES)  # numpy arrays read from run folders, keyed with their file's signature


def signature(path: Path | str) -> tuple | None:
    """What identifies a file's content without reading it; None when there is no such file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def cached_build(key: Any, paths: Sequence[Path | str], build: Callable[[], T], *, nbytes: int = ROW_BYTES) -> T:
    """``build()``, or what it returned last time for ``key`` if none of ``paths`` has changed since; counted as
    ``nbytes`` against the cache's bound. Exceptions from build are not cached."""
    sig = tuple(signature(p) for p in paths)
    hit = _entries.get(key)
    if hit is not None and hit[0] == sig:
        return hit[1]
    value = build()
    settled = time.time() - SETTLE_SECONDS
    if all(s is None or s[2] < settled * 1e9 for s in sig) and sig == tuple(signature(p) for p in paths):
        _entries.put(key, (sig, value), nbytes)
    return value


def cached_json(path: Path | str) -> Any:
    """read_json(path), parsed once while the file is unchanged. A dict comes back as a shallow copy (a caller may
    set keys on it); nested values are shared and must not be changed. Raises what read_json raises."""
    size = (signature(path) or (0, 0))[1]
    value = cached_build(("json", str(path)), [path], lambda: read_json(Path(path)), nbytes=ROW_BYTES + 4 * size)
    return dict(value) if isinstance(value, dict) else value


def clear() -> None:
    """Forget everything (tests)."""
    _entries.clear()
    arrays.clear()
