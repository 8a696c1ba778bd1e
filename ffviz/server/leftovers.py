"""What a server that was killed leaves on disk, swept when the next one starts: the staging folders and temporary
copies of the uploads, imports and downloads it had under way (a 97 MiB ``.staging-*`` folder stayed for good).

    removed = sweep_leftovers([runs_root, runs_root / "uploaded", downloads_root])

Each such folder is named ``<prefix><pid>-...`` after the server that made it (ffviz/server/upload_process.py,
ffviz/server/downloads.py): it is removed once that process is gone, never while it lives (two servers may share a
runs folder). A folder of an older server, without a pid in its name, goes once it is STALE_S old.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

PREFIXES = (".staging-", ".import-", ".download-")
STALE_S = 3600.0  # longer than any worker's time limit (ffviz/server/bounded.py)
_PID = re.compile(r"(\d+)-")


def sweep_leftovers(roots: Iterable[Path], *, prefixes: tuple[str, ...] = PREFIXES) -> list[Path]:
    """Remove every leftover folder directly under ``roots`` (named with one of ``prefixes``) whose server is gone;
    returns what went."""
    removed = []
    for root in roots:
        try:
            entries = list(Path(root).iterdir())
        except OSError:
            continue
        for d in entries:
            prefix = next((p for p in prefixes if d.name.startswith(p)), None)
            if prefix is None or not d.is_dir() or d.is_symlink():
                continue
            if _orphaned(d, d.name[len(prefix):]):
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
    return removed


def _orphaned(path: Path, rest: str) -> bool:
    m = _PID.match(rest)
    if m is None:
        try:
            return time.time() - path.stat().st_mtime > STALE_S
        except OSError:
            return False
    pid = int(m[1])
    return pid != os.getpid() and not alive(pid)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
