"""The one authority on what state a run is in, read from its folder alone: any server, page, CLI or test agrees.

    state = run_state(Path("runs/20261126-172000-learnable-classroom"))   # "running"
    Heartbeat(run_dir).start()      # in the run's own process: proves it is alive, once a second

A run is a process of its own (see ffviz/runner/launcher.py), so no server's memory can say whether it is alive. The
folder says it: meta.json holds what the run last wrote (queued, starting, running, paused, finished, stopped,
failed) and ``heartbeat.json`` holds the run process's host and pid, rewritten every HEARTBEAT_SECONDS. A run that
claims to be active but whose process is gone reads ``interrupted`` (Resume continues it from its last checkpoint):

    queued      waiting in the on-disk queue (meta status "queued"), ordered by meta "queued_at"
    starting    a server launched it (meta "starting"; launch.json names the launcher's process); no heartbeat yet
    running, paused          its process is alive (same host: its pid exists; another host: a fresh heartbeat)
    finished, stopped, failed    it ended and wrote so
    interrupted   it said it was active, but its process is gone (killed, a crashed node, a server restart)
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from ffviz.store.filecache import cached_json
from ffviz.store.folder import ACTIVE, LIVE, STATES, RunFolder
from ffviz.store.storage import read_json
from ffviz.store.untrusted import clean_meta

HEARTBEAT = RunFolder.HEARTBEAT
LAUNCH = RunFolder.LAUNCH  # the launcher's pid, host and command; its exit code once a server reaped it
HEARTBEAT_SECONDS = 1.0
# A run on another host (a scheduler's node) is judged by its heartbeat's age alone: this many seconds of silence
# and it is taken for dead. On this host its pid answers at once.
STALE_SECONDS = 15.0
# On this host a beat this old means the pid it names is no longer the run's, even if some process has that pid now.
PID_REUSE_SECONDS = 60.0
# A launched run that has not written its heartbeat yet (importing torch, loading data) counts as starting for this
# long even when no local process stands for it (a launcher that hands the run to a scheduler and returns).
START_GRACE_SECONDS = 600.0


def pid_alive(pid: Any) -> bool:
    """True when a process with this pid exists on this host (ours or another user's)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_meta(run_dir: Path | str) -> dict[str, Any]:
    """meta.json, the one reader of it: every known key of its documented type (a wrong one is dropped, see
    untrusted.clean_meta); {} when there is none or it does not read. Parsed once while unchanged: pages read every
    run's meta on every draw."""
    try:
        return clean_meta(cached_json(RunFolder(run_dir).meta))
    except (OSError, ValueError):
        return {}


def read_heartbeat(run_dir: Path) -> tuple[dict[str, Any], float] | None:
    """(the heartbeat's content, its age in seconds), or None when the run never wrote one."""
    path = Path(run_dir) / HEARTBEAT
    try:
        age = time.time() - path.stat().st_mtime
        beat = read_json(path)
    except (FileNotFoundError, ValueError, OSError):
        return None
    return (beat, age) if isinstance(beat, dict) else None


def process_alive(host: Any, pid: Any, age: float | None) -> bool:
    """Whether the process a heartbeat (or meta) names still runs: by its pid on this host (and a heartbeat not
    silent for a minute, in case the pid was reused since), by the heartbeat's age elsewhere."""
    if host in (None, socket.gethostname()):
        return pid_alive(pid) and (age is None or age < PID_REUSE_SECONDS)
    return age is not None and age < STALE_SECONDS


def run_state(run_dir: Path | str, meta: dict[str, Any] | None = None) -> str:
    """The state of the run in run_dir (one of STATES); ``meta`` saves a read when the caller has it."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) if meta is None else meta
    status = meta.get("status") or "interrupted"
    if status not in LIVE:
        return status if status in STATES else "interrupted"
    beat = read_heartbeat(run_dir)
    if beat is not None and beat[0].get("pid") is not None:
        content, age = beat
        if process_alive(content.get("host"), content.get("pid"), age):
            return status
        return "interrupted"
    # No heartbeat yet: a run launched a moment ago (importing torch, loading data), or one written by an older
    # ffviz (its meta's pid only).
    if status == "starting":
        return status if _launch_alive(run_dir, meta) else "interrupted"
    return status if process_alive(meta.get("host"), meta.get("pid"), None) else "interrupted"


def _launch_alive(run_dir: Path, meta: dict[str, Any]) -> bool:
    """A launched run not beating yet: alive while its launcher's process is, or, for a launcher that handed it
    to a scheduler and returned 0, for START_GRACE_SECONDS."""
    try:
        launch = read_json(run_dir / LAUNCH)
    except (FileNotFoundError, ValueError, OSError):
        launch = {}  # claimed a moment ago, its process not started yet
    launch = launch if isinstance(launch, dict) else {}
    if "exit" not in launch and launch.get("pid") is not None and launch.get("host") == socket.gethostname():
        return pid_alive(launch["pid"])
    if launch.get("exit") not in (None, 0):
        return False
    launched = meta.get("launched_at")
    return isinstance(launched, (int, float)) and time.time() - launched < START_GRACE_SECONDS


def is_active(run_dir: Path | str, meta: dict[str, Any] | None = None) -> bool:
    return run_state(run_dir, meta) in ACTIVE


def queued_runs(root: Path | str) -> list[Path]:
    """The on-disk queue: run folders under root whose status is queued, first come first."""
    root = Path(root)
    if not root.is_dir():
        return []
    waiting = []
    for d in root.iterdir():
        if RunFolder(d).is_run():
            meta = read_meta(d)
            if meta.get("status") == "queued":
                waiting.append((float(meta.get("queued_at") or 0.0), d.name, d))
    return [d for _, _, d in sorted(waiting)]


class Heartbeat:
    """Rewrites run_dir/heartbeat.json every HEARTBEAT_SECONDS from a daemon thread, while the run's process lives.

    A thread, not the training loop: a long evaluation or a paused run still beats. The thread dies with the
    process, however it dies, which is the point."""

    def __init__(self, run_dir: Path | str, interval: float = HEARTBEAT_SECONDS) -> None:
        self.path = Path(run_dir) / HEARTBEAT
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="ffviz-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._write()
        self._thread.start()
        return self

    def stop(self) -> None:
        """The run has ended and said so in meta.json: stop beating (the last beat stays, naming a dead pid)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _write(self) -> None:
        # Renamed into place (a reader never sees half of it) but not fsynced: a beat matters only while it is new.
        tmp = self.path.with_name(f".{HEARTBEAT}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a full disk or a vanished folder: the run itself will say so

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self._write()
