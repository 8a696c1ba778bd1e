"""The retention policy: the app keeps the newest DEFAULT_MAX_RUNS runs in its runs folder, and as many uploads in
its uploads folder; when a run starts (or an upload arrives) the oldest beyond that are deleted. An active run is never
deleted, nor a shipped one (they live elsewhere). $FFVIZ_MAX_RUNS sets the number.

    removed = enforce_retention(Path("runs"), max_runs=100, owner=token)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ffviz.env import positive_int
from ffviz.store.catalog import folder_size
from ffviz.store.folder import ACTIVE, RunFolder
from ffviz.store.runs import owner_of
from ffviz.store.runstate import run_state
from ffviz.store.storage import read_json
from ffviz.store.untrusted import clean_meta

DEFAULT_MAX_RUNS = 100
MAX_RUNS_ENV = "FFVIZ_MAX_RUNS"


def retention_limit(environ: Mapping[str, str] = os.environ) -> tuple[int, str | None]:
    """(how many runs a runs folder keeps, a note when $FFVIZ_MAX_RUNS was set but unusable and the default holds)."""
    return positive_int(environ, MAX_RUNS_ENV, DEFAULT_MAX_RUNS, example=200,
                        unit=f"keeping the newest {DEFAULT_MAX_RUNS} runs")


EVERYONE = object()  # enforce_retention's default: every owner's runs counted together (the command line's use)


def enforce_retention(root: Path, *, max_runs: int = DEFAULT_MAX_RUNS, active_ids: set[str] | None = None,
                      max_bytes: int | None = None, owner: Any = EVERYONE) -> list[Path]:
    """Bound the runs folder: delete the oldest runs beyond ``max_runs`` (and, with ``max_bytes``, the oldest until
    the folder's runs fit in it), never an active one. Returns what went.

    Age is the server's own record: an upload's time of receipt (``uploaded``, stamped at import), else ``created``
    as the server or CLI wrote it. A future date inside an uploaded meta.json buys nothing.

    ``owner``: only that owner's runs are counted and deleted (None: the teacher's, the runs without an owner), so
    one student's hundred runs push out none of anyone else's; the app always passes it."""
    if max_runs < 1:
        raise ValueError(f"max_runs={max_runs} must be at least 1")
    # Only meta.json is read (not the histories scan_runs summarizes): this runs each time a run starts.
    runs = []
    for d in Path(root).iterdir() if Path(root).is_dir() else ():
        if d.is_dir() and RunFolder(d).is_run():
            try:
                meta_path = RunFolder(d).meta
                meta = clean_meta(read_json(meta_path)) if meta_path.exists() else {}
            except (OSError, ValueError):
                continue  # unreadable: not ours to judge, never deleted
            if owner is not EVERYONE and owner_of(meta) != owner:
                continue  # someone else's: never counted against this owner, never deleted for them
            received = meta.get("uploaded") or meta.get("created", "")
            runs.append((received, d, run_state(d, meta)))
    runs.sort(key=lambda r: (r[0], r[1].name), reverse=True)  # newest first; a tie by the folder's name (its time)
    removed = []
    sizes = {d: folder_size(d) for _, d, _ in runs} if max_bytes is not None else {}
    total = sum(sizes.values())
    for i, (_, d, status) in reversed(list(enumerate(runs))):  # oldest first
        if i < max_runs and (max_bytes is None or total <= max_bytes):
            break
        if status in ACTIVE or (active_ids is not None and d.name in active_ids):
            continue
        shutil.rmtree(d, ignore_errors=True)
        total -= sizes.get(d, 0)
        removed.append(d)
    return removed
