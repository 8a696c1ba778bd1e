"""Runs that live outside any page: a bounded pool of worker threads, a queue, and a handle per run.

    manager = RunManager("runs", max_running=2)
    run_id = manager.submit(RunConfig(preset="classroom", epochs=5))
    manager.control(run_id).pause()
    manager.info(run_id).state          # "queued", "running", "paused", "finished", "stopped", "failed"

A page only submits, steers and reads: training never runs in the page script, so switching pages, moving widgets
or closing the tab leave it alone. A run writes its folder as it goes (see ffviz/runs.py); every reader, in any
session, reads that folder. A crash in one run is caught in its thread and written to its folder; other runs and the
app go on. One manager serves a whole server process (the app keeps it in a resource cache).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ffviz.config import RunConfig
from ffviz.control import RunControl
from ffviz.runs import RunWriter, init_run_dir, new_run_dir, resume, update_meta
from ffviz.trainer import Callback, Trainer


@dataclass
class RunInfo:
    run_id: str  # the run folder's name
    dir: Path
    config: RunConfig
    state: str = "queued"  # queued, starting, running, paused, finished, stopped, failed
    error: str | None = None
    control: RunControl = field(default_factory=RunControl)
    continue_to: int | None = None  # set when this job continues an existing run to more epochs
    done: threading.Event = field(default_factory=threading.Event)  # set when the run has ended, however


ENDED = ("finished", "stopped", "failed")


class _StateTracker(Callback):
    """Mirrors the trainer's progress into the RunInfo the pages read."""

    def __init__(self, info: RunInfo) -> None:
        self.info = info

    def on_event(self, trainer: Trainer, record) -> None:
        if record.action == "pause":
            self.info.state = "paused"
        elif record.action in ("resume", "step", "start"):
            self.info.state = "running"


class RunManager:
    def __init__(self, runs_root: Path | str, *, max_running: int = 2, keep_ended: int = 100,
                 niceness: int = 0) -> None:
        if max_running < 1:
            raise ValueError(f"max_running={max_running} must be at least 1")
        if keep_ended < 0:
            raise ValueError(f"keep_ended={keep_ended} must be at least 0")
        self.root = Path(runs_root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_running = max_running
        # Ended runs are remembered (state, error) for the pages, up to this many; older ones are forgotten so that
        # a server that runs for months holds no more than this. A forgotten run's folder still says how it ended.
        self.keep_ended = keep_ended
        # Training threads run at this scheduling niceness (Linux, where a thread has its own): a server that also
        # draws pages for a classroom lets the pages go first, and training takes whatever CPU they leave.
        self.niceness = niceness
        self._lock = threading.Lock()
        self._runs: dict[str, RunInfo] = {}
        self._queue: deque[str] = deque()
        self._threads: dict[str, threading.Thread] = {}

    # --- submitting ---
    def submit(self, cfg: RunConfig, *, name: str | None = None, owner: str | None = None) -> str:
        """Queue a new run; it starts as soon as fewer than max_running runs are active. Returns its id."""
        run_dir = new_run_dir(self.root, cfg, name)
        # A valid, listed run folder from the first moment, while queued; owner: the session that may steer it.
        init_run_dir(run_dir, cfg, name=name, owner=owner)
        info = RunInfo(run_id=run_dir.name, dir=run_dir, config=cfg)
        return self._enqueue(info)

    def submit_continue(self, run_dir: Path | str, *, epochs: int) -> str:
        """Queue the continuation of a finished or stopped run, from its last checkpoint, to ``epochs`` epochs."""
        run_dir = Path(run_dir)
        info = RunInfo(run_id=run_dir.name, dir=run_dir, config=RunConfig(), continue_to=int(epochs))
        with self._lock:
            old = self._runs.get(info.run_id)
            if old is not None and old.state in ("queued", "starting", "running", "paused"):
                raise ValueError(f"run {info.run_id} is still active; stop it before continuing it")
        return self._enqueue(info)

    def _enqueue(self, info: RunInfo) -> str:
        with self._lock:
            self._runs.pop(info.run_id, None)  # a continued run moves to the end: the order is by last start
            self._runs[info.run_id] = info
            self._queue.append(info.run_id)
        self._start_waiting()
        return info.run_id

    # --- reading and steering ---
    def info(self, run_id: str) -> RunInfo | None:
        return self._runs.get(run_id)

    def control(self, run_id: str) -> RunControl:
        info = self._runs.get(run_id)
        if info is None:
            raise KeyError(f"no run {run_id!r} in this server's manager")
        return info.control

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None when the run is not waiting."""
        with self._lock:
            try:
                return self._queue.index(run_id) + 1
            except ValueError:
                return None

    def active(self) -> list[RunInfo]:
        return [i for i in self._runs.values() if i.state in ("queued", "starting", "running", "paused")]

    def cancel(self, run_id: str) -> None:
        """Stop a running run at its next batch, or take a queued one out of the queue."""
        with self._lock:
            if run_id in self._queue:
                self._queue.remove(run_id)
                self._runs[run_id].state = "stopped"
                self._runs[run_id].done.set()
                self._forget_old_ended()
                return
        self.control(run_id).stop()

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        """Block until the run has ended (tests, the CLI); False on timeout."""
        info = self._runs.get(run_id)
        return True if info is None else info.done.wait(timeout)  # forgotten: it ended long ago

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every run and wait for the threads (tests; a server shutting down)."""
        with self._lock:
            for run_id in self._queue:
                self._runs[run_id].state = "stopped"
                self._runs[run_id].done.set()
            self._queue.clear()
        for info in list(self._runs.values()):
            info.control.stop()
        for thread in list(self._threads.values()):
            thread.join(timeout)

    # --- the workers ---
    def _start_waiting(self) -> None:
        with self._lock:
            running = sum(1 for t in self._threads.values() if t.is_alive())
            while self._queue and running < self.max_running:
                run_id = self._queue.popleft()
                info = self._runs[run_id]
                info.state = "starting"
                thread = threading.Thread(target=self._work, args=(info,), name=f"ffviz-run-{run_id}", daemon=True)
                self._threads[run_id] = thread
                thread.start()
                running += 1

    def _work(self, info: RunInfo) -> None:
        if self.niceness:
            _lower_priority(self.niceness)
        try:
            tracker = _StateTracker(info)
            if info.continue_to is not None:
                trainer = resume(info.dir, epochs=info.continue_to, control=info.control, callbacks=[tracker])
                info.config = trainer.cfg
            else:
                trainer = Trainer(info.config, control=info.control, callbacks=[RunWriter(info.dir), tracker])
            status = trainer.fit()
            info.state, info.error = status, trainer.error
        except Exception as e:  # set-up failed (missing data, bad checkpoint): the run's page shows why
            info.state, info.error = "failed", f"{type(e).__name__}: {e}"
            update_meta(info.dir, status="failed", error=info.error, pid=None)
        finally:
            # The thread is done; drop it so nothing of this run is held beyond its folder and RunInfo.
            with self._lock:
                self._threads.pop(info.run_id, None)
                self._forget_old_ended()
            info.done.set()
            self._start_waiting()

    def _forget_old_ended(self) -> None:
        """Drop the oldest ended runs' RunInfo beyond keep_ended (the caller holds the lock)."""
        ended = [run_id for run_id, i in self._runs.items() if i.state in ENDED]
        for run_id in ended[:max(0, len(ended) - self.keep_ended)]:  # dicts keep insertion order: oldest first
            del self._runs[run_id]


def _lower_priority(niceness: int) -> None:
    """Raise this thread's niceness (Linux schedules threads, and the OpenMP workers this thread starts inherit it);
    elsewhere, or without permission, leave it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass
