"""Memoise what is built from files, for as long as those files have not changed: what every page of a shared
server re-reads from the run folders (meta.json, a run's summary row) is parsed once, not once per page per session.

    folder = RunFolder(run_dir)
    meta = cached_json(folder.meta)                                            # parsed once while unchanged
    row = cached_build(("summary", run_dir), [folder.meta, folder.log("epochs")], build)

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

_lock = threading.Lock()
_entries: OrderedDict[Any, tuple[tuple, T]] = OrderedDict()


def signature(path: Path | str) -> tuple | None:
    """What identifies a file's content without reading it; None when there is no such file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def cached_build(key: Any, paths: Sequence[Path | str], build: Callable[[], T]) -> T:
    """``build()``, or what it returned last time for ``key`` if none of ``paths`` has changed since. Exceptions
    from build are not cached."""
    sig = tuple(signature(p) for p in paths)
    with _lock:
        hit = _entries.get(key)
        if hit is not None and hit[0] == sig:
            _entries.move_to_end(key)
            return hit[1]
    value = build()
    settled = time.time() - SETTLE_SECONDS
    if all(s is None or s[2] < settled * 1e9 for s in sig) and sig == tuple(signature(p) for p in paths):
        with _lock:
            _entries[key] = (sig, value)
            _entries.move_to_end(key)
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
    return value


def cached_json(path: Path | str) -> Any:
    """read_json(path), parsed once while the file is unchanged. A dict comes back as a shallow copy (a caller may
    set keys on it); nested values are shared and must not be changed. Raises what read_json raises."""
    value = cached_build(("json", str(path)), [path], lambda: read_json(Path(path)))
    return dict(value) if isinstance(value, dict) else value


def clear() -> None:
    """Forget everything (tests)."""
    with _lock:
        _entries.clear()
