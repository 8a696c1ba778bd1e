"""A run's title and note, given by its owner: plain text in the run folder's notes.json, kept in its archive.

    write_notes(run_dir, title="demo for period 3", note="lambda_orth high on purpose")
    read_notes(run_dir)             # RunNotes(title="demo for period 3", note="...")

Plain text, bounded: control characters are dropped (a newline stays in a note), and a title or note beyond its
bound is refused with a message saying how long it may be. Pages show both as typed, never as Markdown. Who may
edit them is the server's rule (a run's owner or the teacher: ffviz/server/access.py); this module only stores.
A notes.json from an upload is read through the same bounds, so a hostile one shows at most MAX_NOTE characters.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from ffviz.store.folder import RunFolder
from ffviz.store.storage import atomic_write_json, read_json

MAX_TITLE = 80
MAX_NOTE = 1000
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # every control character but the newline


@dataclass(frozen=True)
class RunNotes:
    title: str = ""
    note: str = ""

    def __bool__(self) -> bool:
        return bool(self.title or self.note)


def clean(text: object, bound: int, what: str, *, lines: bool) -> str:
    """``text`` as plain text (control characters dropped; newlines only where ``lines``), stripped; ValueError
    beyond ``bound`` characters."""
    if not isinstance(text, str):
        raise ValueError(f"the {what} must be text")
    text = _CONTROL.sub("", text.replace("\r\n", "\n")).strip()
    if not lines:
        text = " ".join(text.split())
    if len(text) > bound:
        raise ValueError(f"the {what} has {len(text)} characters; at most {bound}. Shorten it and save again.")
    return text


def write_notes(run_dir: Path | str, *, title: str, note: str) -> RunNotes:
    notes = RunNotes(clean(title, MAX_TITLE, "title", lines=False), clean(note, MAX_NOTE, "note", lines=True))
    atomic_write_json(RunFolder(run_dir).notes, {"title": notes.title, "note": notes.note, "edited": time.time()})
    return notes


def read_notes(run_dir: Path | str) -> RunNotes:
    """The run's title and note; empty ones when it has none or its file is unreadable (never an error)."""
    try:
        data = read_json(RunFolder(run_dir).notes)
    except (OSError, ValueError):
        return RunNotes()
    if not isinstance(data, dict):
        return RunNotes()
    out = []
    for key, bound, lines in (("title", MAX_TITLE, False), ("note", MAX_NOTE, True)):
        raw = data.get(key)
        try:
            out.append(clean(raw, bound, key, lines=lines) if isinstance(raw, str) else "")
        except ValueError:  # beyond its bound (an upload): shown cut, never in full
            out.append(clean(raw[:bound], bound, key, lines=lines))
    return RunNotes(*out)
