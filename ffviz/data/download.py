"""Crash-safe downloads: fetch into a private staging folder, then move finished files into place.

torchvision downloads straight into its final file names and extracts archives in place, so an interrupted
download can leave files that later look valid (MNIST's raw files are only checked for existence). Here the
download runs inside ``root/.ffviz-download-<name>-XXXX/``; only after torchvision has finished (and checked
its md5 sums) are the expected files moved, each with an atomic ``os.replace``, to where the loader looks. On
any failure the staging folder is deleted, together with any folders this download created, so a later load
sees either the complete dataset or nothing.

Progress: torchvision's downloader only drives a tqdm bar, so it runs in a worker thread while the calling
thread polls the size of the archive being written and calls ``progress(done_bytes, total_bytes)`` -- on the
caller's thread, which matters for UI frameworks that only allow updates from their own thread.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ProgressFn = Callable[[int, int], None]

_POLL_SECONDS = 0.25


@contextmanager
def staging_dir(root: Path, name: str) -> Iterator[Path]:
    """A fresh folder under ``root`` (same file system, so ``os.replace`` out of it is atomic), always removed
    on exit; on failure the folders created on the way to ``root`` are removed too if they are still empty."""
    created = _missing_parents(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".ffviz-download-{name}-", dir=root))
    ok = False
    try:
        yield tmp
        ok = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not ok:
            remove_empty_dirs(created)


def _missing_parents(path: Path) -> list[Path]:
    """``path`` and those of its ancestors that do not exist yet, deepest first."""
    missing = []
    p = path.absolute()
    while not p.exists():
        missing.append(p)
        p = p.parent
    return missing


def remove_empty_dirs(dirs: Sequence[Path]) -> None:
    """Remove each folder of ``dirs`` (deepest first) if it exists and is empty; never touches non-empty ones."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:  # not empty, already gone, or not ours to remove: leave it
            pass


def install_files(src_dir: Path, dst_dir: Path, files: Sequence[str]) -> None:
    """Move ``files`` from ``src_dir`` to ``dst_dir`` with atomic renames, after checking that all exist."""
    missing = [f for f in files if not (src_dir / f).is_file()]
    if missing:
        raise RuntimeError(f"download finished but {', '.join(missing)} not found in {src_dir}")
    created = _missing_parents(dst_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    try:
        for f in files:
            os.replace(src_dir / f, dst_dir / f)
    except BaseException:
        remove_empty_dirs(created)
        raise


def bytes_under(folder: Path, *, suffix: str) -> int:
    """Total size of the files under ``folder`` whose name ends with ``suffix`` (the archives being written)."""
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for fn in filenames:
            if fn.endswith(suffix):
                try:
                    total += os.path.getsize(os.path.join(dirpath, fn))
                except OSError:  # the file moved or vanished between listing and stat
                    pass
    return total


def run_with_progress(job: Callable[[], None], *, progress: ProgressFn | None, total: int,
                      measure: Callable[[], int]) -> None:
    """Run ``job``; while it runs, report ``progress(min(measure(), total), total)`` a few times per second.

    ``progress`` is always called with ``(0, total)`` first and ``(total, total)`` after success. Exceptions of
    ``job`` are re-raised here. Without a ``progress`` callback the job simply runs on this thread.
    """
    if progress is None:
        job()
        return
    progress(0, total)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            job()
        except BaseException as e:  # noqa: BLE001 -- handed to the calling thread, which re-raises it
            errors.append(e)

    # daemon: if the caller is interrupted, a stuck network read must not keep the interpreter alive
    thread = threading.Thread(target=worker, name="ffviz-download", daemon=True)
    thread.start()
    last = -1
    while thread.is_alive():
        thread.join(_POLL_SECONDS)
        done = min(measure(), total)
        if done != last:
            progress(done, total)
            last = done
    if errors:
        raise errors[0]
    progress(total, total)
