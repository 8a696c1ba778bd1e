"""Steering a run in another process through its folder: the server writes ``control.json``, the run reads it.

    ControlFile(run_dir).pause()                  # server side: same verbs as RunControl
    ControlFile(run_dir).set(lambda_entropy=0.0)
    control = FileControl(run_dir)                # run side: a RunControl whose poll() reads the file
    Trainer(cfg, control=control).fit()

control.json holds a numbered list of commands, rewritten atomically:

    {"seq": 3, "commands": [{"seq": 1, "action": "pause"}, {"seq": 2, "action": "resume"},
                            {"seq": 3, "action": "set", "changes": {"lambda_entropy": 0.0}}]}

The run applies each command whose number it has not seen, in order, through RunControl's own methods, so the
trainer records them as events exactly as for a run in a thread. It checks the file once per batch with one stat
(its inode, mtime and size); only a change costs a read. A folder can outlive many processes (a run continued later):
``ControlFile.clear`` empties the list before a new process starts, so an old "stop" does not stop it.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Any

from ffviz.method.control import LIVE_FIELDS, RunControl
from ffviz.store.folder import RunFolder
from ffviz.store.storage import atomic_write_json, read_json

CONTROL = RunFolder.CONTROL
KEEP_COMMANDS = 200  # the newest commands kept in the file; a run more than this many behind is long dead
ACTIONS = ("pause", "resume", "step", "stop", "set")
_LOCK = threading.Lock()  # one writer at a time in this server (sessions are threads); a run only reads


class ControlFile:
    """The server's side: append a command to a run's control.json."""

    def __init__(self, run_dir: Path | str) -> None:
        self.dir = Path(run_dir)
        self.path = self.dir / CONTROL

    def pause(self) -> None:
        self._append("pause")

    def resume(self) -> None:
        self._append("resume")

    def step_epoch(self) -> None:
        self._append("step")

    def stop(self) -> None:
        self._append("stop")

    def set(self, **changes: float) -> None:
        """New values for live fields (checked here, so a bad one fails in the page, not in the run)."""
        RunControl().set(**changes)  # the same checks as in-process steering; raises ValueError naming the field
        self._append("set", {k: float(v) for k, v in changes.items()})

    def clear(self) -> None:
        """Forget every command (before a new process trains this folder)."""
        with _LOCK:
            self.path.unlink(missing_ok=True)

    def commands(self) -> list[dict[str, Any]]:
        return _read(self.path)[1]

    def _append(self, action: str, changes: dict[str, float] | None = None) -> None:
        with _LOCK:
            seq, commands = _read(self.path)
            command: dict[str, Any] = {"seq": seq + 1, "action": action}
            if changes:
                command["changes"] = changes
            commands = [*commands, command][-KEEP_COMMANDS:]
            atomic_write_json(self.path, {"seq": seq + 1, "commands": commands})


def _read(path: Path) -> tuple[int, list[dict[str, Any]]]:
    seq, commands, _ = _parse(path)
    return seq, commands


MAX_SEQ = 2 ** 53  # a command number beyond this is junk (and JSON's 1e400 is infinity, no number at all)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_SEQ


def _parse(path: Path) -> tuple[int, list[dict[str, Any]], list[str]]:
    """(the file's command number, its well-formed commands, what was wrong with the rest). Whatever the file holds
    (it is a file in a folder, anyone with the folder can write it) nothing here raises: a command number that is
    not a whole number, an unknown action, a change that is not a finite number of a live field are left out and
    said in the third item."""
    try:
        data = read_json(path)
    except FileNotFoundError:
        return 0, [], []
    except (ValueError, OSError) as e:
        return 0, [], [f"{CONTROL} could not be read ({str(e)[:80]})"]
    if not isinstance(data, dict) or not isinstance(data.get("commands", []), list):
        return 0, [], [f"{CONTROL} is not an object with a list of commands"]
    problems = []
    seq = data.get("seq", 0)
    if not _whole(seq):
        problems.append(f"{CONTROL}: seq={_short(seq)} is not a whole number")
        seq = 0
    commands = []
    for c in data.get("commands", []):
        if not isinstance(c, dict) or not _whole(c.get("seq")):
            problems.append(f"{CONTROL}: a command without a whole-number seq ({_short(c)})")
            continue
        if c.get("action") not in ACTIONS:
            problems.append(f"{CONTROL}: command {c['seq']} has an unknown action {_short(c.get('action'))}")
            continue
        if c["action"] == "set":
            changes = c.get("changes")
            if not isinstance(changes, dict) or not changes or not all(
                    k in LIVE_FIELDS and isinstance(v, (int, float)) and not isinstance(v, bool)
                    and math.isfinite(v) for k, v in changes.items()):
                problems.append(f"{CONTROL}: command {c['seq']} sets {_short(changes)}, not finite numbers of "
                                "live fields")
                continue
        commands.append(c)
    return max([seq, *(c["seq"] for c in commands)]), commands, problems


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class FileControl(RunControl):
    """The run's side: a RunControl that also obeys the commands written to its folder's control.json."""

    def __init__(self, run_dir: Path | str) -> None:
        super().__init__()
        self.path = Path(run_dir) / CONTROL
        self._seen = 0  # the highest command number applied
        self._stamp: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) when last read
        self.poll()

    def poll(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)  # each write is a new file (atomic rename)
        if stamp == self._stamp:
            return  # the per-batch cost: one stat
        self._stamp = stamp
        seq, commands, problems = _parse(self.path)
        for why in problems:  # ignored, and recorded as an event: the run goes on
            self.note_ignored(why)
        if seq < self._seen:  # numbered afresh (the server rewrote a file that held junk): its commands are new
            self._seen = 0
        for command in commands:
            if command["seq"] <= self._seen:
                continue
            self._seen = command["seq"]
            self._apply(command)

    def _apply(self, command: dict[str, Any]) -> None:
        action = command.get("action")
        if action == "pause":
            self.pause()
        elif action == "resume":
            self.resume()
        elif action == "step":
            self.step_epoch()
        elif action == "stop":
            self.stop()
        elif action == "set":
            changes = {k: v for k, v in (command.get("changes") or {}).items() if k in LIVE_FIELDS}
            try:
                self.set(**changes)
            except (ValueError, TypeError):
                pass  # checked by the writer; a hand-edited file must not kill the run
