"""Crash-safe file primitives: atomic replace for whole files, newline-terminated appends for logs.

A SIGKILL can land anywhere. Whole files are written to a temporary sibling, fsynced and renamed over the target,
so a reader sees the old file or the new one, never half of one. Logs are JSON lines; a reader drops a last line
that has no newline yet (a write in flight or cut short) and reads it on its next pass once it is complete.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write(path: Path, write: Callable[[io.BufferedWriter], Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, allow_nan=True).encode())


def read_json(path: Path) -> Any:
    """Parse a JSON file; ValueError for one that is not JSON or nests too deeply to parse (a hostile upload)."""
    try:
        return json.loads(Path(path).read_text())
    except RecursionError:
        raise ValueError(f"{Path(path).name} nests too deeply to be read") from None


class JsonlAppender:
    """Appends one JSON object per line; ``sync`` makes everything appended so far durable."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "ab")  # noqa: SIM115 - lives as long as the writer

    def append(self, obj: Any) -> None:
        self._f.write(json.dumps(obj, allow_nan=True).encode() + b"\n")
        self._f.flush()  # visible to readers in other threads/processes right away

    def sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self.sync()
            self._f.close()


class JsonlTail:
    """Reads a JSON-lines file incrementally: each ``read_new`` returns only the complete lines added since."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._offset = 0

    def read_new(self) -> list[Any]:
        try:
            if os.stat(self.path).st_size <= self._offset:  # nothing new (the usual case when a page polls)
                return []
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self._offset += end + 1
        out = []
        for line in chunk[: end + 1].splitlines():
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except (ValueError, RecursionError):
                continue  # a line torn by a crash before the newline of the next write (or not JSON): skip it
        return out
