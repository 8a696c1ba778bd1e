"""Steering a run from another thread: pause, one epoch then pause, stop, resume, and live hyperparameter changes.

    control = RunControl()
    threading.Thread(target=Trainer(cfg, control=control).fit).start()
    control.pause(); control.set(lambda_entropy=0.0); control.resume(); control.stop()

The trainer calls ``wait_between_batches`` before every batch: that is the only place where it blocks, so a
command takes effect at the next batch boundary and never tears a step in half. A run in its own process is steered
through its folder instead (ffviz/runner/steering.py): the same class, whose ``poll`` reads the commands a server wrote.
"""

from __future__ import annotations

import threading
from typing import Any

# The hyperparameters that may change while a run goes (RunConfig's fields marked live): they take effect at the
# next batch.
from ffviz.config import LIVE_FIELDS as LIVE_FIELDS
from ffviz.config import in_range, range_text


class RunControl:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._paused = False
        self._stop = False
        self._pause_at_epoch_end = False
        self._pending: dict[str, float] = {}
        self._actions: list[str] = []  # control actions not yet recorded by the trainer
        self._notes: list[str] = []  # steering input that was ignored, not yet recorded (as "ignored" events)

    # --- called from the UI / another thread ---
    def pause(self) -> None:
        with self._cond:
            if not self._paused:
                self._paused = True
                self._actions.append("pause")
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._pause_at_epoch_end = False
            if self._paused:
                self._paused = False
                self._actions.append("resume")
            self._cond.notify_all()

    def step_epoch(self) -> None:
        """Run until the end of the current epoch (or one whole epoch, if paused between epochs), then pause."""
        with self._cond:
            self._pause_at_epoch_end = True
            self._actions.append("step")
            self._paused = False
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._actions.append("stop")
            self._cond.notify_all()

    def set(self, **changes: float) -> None:
        """Queue new values for live fields (see LIVE_FIELDS); they apply at the next batch."""
        bad = sorted(set(changes) - set(LIVE_FIELDS))
        if bad:
            raise ValueError(f"cannot change {', '.join(bad)} during a run; live fields: {', '.join(LIVE_FIELDS)}")
        for name, value in changes.items():
            if not in_range(name, float(value)):  # NaN is in no range
                raise ValueError(f"{name}={value} must be in {range_text(name)}")
        with self._cond:
            self._pending.update({k: float(v) for k, v in changes.items()})

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stop_requested(self) -> bool:
        return self._stop

    # --- called by the trainer ---
    def poll(self) -> None:
        """Pick up commands given outside this process (steering.FileControl reads them from the run folder); an
        in-process control has none. Called before every batch and twice a second while paused."""

    def take_changes(self) -> dict[str, float]:
        with self._cond:
            out, self._pending = self._pending, {}
            return out

    def take_actions(self) -> list[str]:
        with self._cond:
            out, self._actions = self._actions, []
            return out

    def note_ignored(self, why: str) -> None:
        """Steering input that was not obeyed (a malformed control file): the trainer records it as an event."""
        with self._cond:
            self._notes = [*self._notes, why][-20:]

    def take_notes(self) -> list[str]:
        with self._cond:
            out, self._notes = self._notes, []
            return out

    def epoch_ended(self) -> None:
        """The trainer finished an epoch: honour a pending "one epoch" request by pausing."""
        with self._cond:
            if self._pause_at_epoch_end:
                self._pause_at_epoch_end = False
                self._paused = True
                self._actions.append("pause")

    def wait_between_batches(self, on_wait: Any = None) -> bool:
        """Block while paused; return False when the run should stop. ``on_wait`` runs once when blocking starts."""
        self.poll()
        with self._cond:
            if self._paused and not self._stop and on_wait is not None:
                self._cond.release()
                try:
                    on_wait()
                finally:
                    self._cond.acquire()
            while self._paused and not self._stop:
                self._cond.wait(timeout=0.5)
                self.poll()  # the condition's lock is re-entrant: poll's pause/resume/stop take it again
            return not self._stop
