"""Runs as processes of their own: a queue on disk, a bound on how many train at once, and steering by file.

    manager = RunManager("runs")                       # max_running from $FFVIZ_MAX_RUNNING or the machine
    run_id = manager.submit(RunConfig(preset="classroom", epochs=5), name="demo")
    manager.control(run_id).pause()                    # written to the run's control.json; applied at its next batch
    manager.info(run_id).state                         # from the folder: ffviz/store/runstate.py, the one authority
    manager.wait(run_id)

The server only launches, steers and reads: each run trains in its own process (ffviz/runner/launcher.py, the CLI's own
``python -m ffviz train --run-dir``), so a crash, a CUDA fault or the OOM killer in one run ends that run alone,
and the server holds no model and never imports torch. Everything lives in the runs folder: a queued run is a
folder whose status is queued, a running run proves it is alive by its heartbeat, commands go through its
control.json. So a server that restarts (or a second one on the same folder) adopts the runs that still train,
sees those whose process died as interrupted (Resume continues them), and starts the queue where it was.

One scheduler thread per manager looks once a second: it reaps the processes it started (a run killed by a signal
is marked at once), and starts queued runs, first come first, while fewer than max_running are active.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffviz.config import RunConfig
from ffviz.runner.launcher import PROCESS_LOG, Launcher, max_running_setting
from ffviz.runner.memory import TRIM_SECONDS, release_free_memory
from ffviz.runner.steering import ControlFile
from ffviz.runner.warm import WarmPool, spares_setting
from ffviz.store.folder import ACTIVE, LIVE, RunFolder
from ffviz.store.runs import init_run_dir, new_run_dir, open_reader, update_meta
from ffviz.store.runstate import HEARTBEAT, LAUNCH, queued_runs, read_meta, run_state
from ffviz.store.stage import write_stage
from ffviz.store.storage import atomic_write_json, read_json

TICK_SECONDS = 1.0
# meta.json key of a launched sweep's run (its sweep's id): such runs wait behind everyone's Starts and train at most
# ``sweep_share`` at a time, so a sweep of 18 runs never takes the slots a class needs.
SWEEP_QUEUE_KEY = "sweep_queue"
LOG_TAIL_LINES = 12  # of process.log, quoted in the error of a run whose process died unexpectedly


@dataclass(frozen=True)
class RunInfo:
    """What a page needs of a run, read from its folder when asked (never kept: the folder is the truth)."""

    run_id: str  # the run folder's name
    dir: Path
    state: str  # one of ffviz.store.runstate.STATES
    error: str | None
    owner: str | None
    sweep: str | None = None  # the launched sweep it belongs to: it waits in the sweeps' share of the queue

    @property
    def config(self) -> RunConfig:
        return open_reader(self.dir).config


class RunManager:
    def __init__(self, runs_root: Path | str, *, max_running: int | None = None, launcher: Launcher | None = None,
                 niceness: int | None = None, tick_seconds: float = TICK_SECONDS, spares: int | None = None,
                 sweep_share: int | None = None) -> None:
        if max_running is None:
            max_running = max_running_setting()[0]
        if max_running < 1:
            raise ValueError(f"max_running={max_running} must be at least 1")
        self.root = Path(runs_root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_running = max_running
        # Sweeps' runs training at once (the server's limit max_sweep_running, set by the app): the rest is for Starts.
        self.sweep_share = max(1, max_running // 2) if sweep_share is None else sweep_share
        if launcher is None:
            launcher = Launcher.from_env(max_running=max_running)
        if niceness is not None:
            launcher = Launcher(template=launcher.template, threads=launcher.threads, niceness=niceness)
        self.launcher = launcher
        # Spare run processes with torch loaded (ffviz/runner/warm.py): a Start trains at once, not after an import.
        self.warm = WarmPool(launcher, self.root, size=spares_setting()[0] if spares is None else spares)
        self._lock = threading.RLock()
        self._procs: dict[str, subprocess.Popen] = {}  # the processes this manager started and has not reaped
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(tick_seconds,), name="ffviz-scheduler", daemon=True)
        self.tick()  # adopt what a previous server left: mark the dead, start the queue
        self._thread.start()

    # --- submitting ---
    def submit(self, cfg: RunConfig, *, name: str | None = None, owner: str | None = None,
               meta: Mapping[str, Any] | None = None) -> str:
        """Queue a new run; it starts as soon as fewer than max_running runs are active. Returns its id. ``meta``:
        more keys for its meta.json, written before its process starts (the app's client address, disk bound)."""
        run_dir = new_run_dir(self.root, cfg, name)
        init_run_dir(run_dir, cfg, name=name, owner=owner, extra=dict(meta or {}))  # listed from the first moment
        self.tick()
        return run_dir.name

    def submit_continue(self, run_dir: Path | str, *, epochs: int, meta: Mapping[str, Any] | None = None) -> str:
        """Queue the continuation of a finished, stopped or interrupted run, from its last checkpoint, to ``epochs``
        epochs (in its own folder, which must be under this manager's runs folder)."""
        run_dir = Path(run_dir).absolute()
        if run_dir.parent != self.root:
            raise ValueError(f"{run_dir.name} is not in this server's runs folder ({self.root}); copy it there first")
        if run_state(run_dir) in ACTIVE:
            raise ValueError(f"run {run_dir.name} is still active; stop it before continuing it")
        with self._lock:
            ControlFile(run_dir).clear()  # an old "stop" must not stop the new process
            for name in (HEARTBEAT, LAUNCH):
                (run_dir / name).unlink(missing_ok=True)
            update_meta(run_dir, status="queued", queued_at=time.time(), continue_to=int(epochs), error=None,
                        pid=None, **{k: v for k, v in (meta or {}).items() if k != "owner"})
        self.tick()
        return run_dir.name

    # --- reading and steering ---
    def info(self, run_id: str) -> RunInfo | None:
        """The run's state and error as its folder says now; None when there is no such run in the runs folder."""
        run_dir = self._dir(run_id)
        if run_dir is None:
            return None
        meta = read_meta(run_dir)
        return RunInfo(run_id=run_id, dir=run_dir, state=run_state(run_dir, meta), error=meta.get("error"),
                       owner=meta.get("owner"))

    def state(self, run_id: str) -> str | None:
        info = self.info(run_id)
        return None if info is None else info.state

    def control(self, run_id: str) -> ControlFile:
        """Steering for the run: pause, resume, step_epoch, stop, set(**live values), applied at its next batch."""
        run_dir = self._dir(run_id)
        if run_dir is None:
            raise KeyError(f"no run {run_id!r} in this server's runs folder")
        return ControlFile(run_dir)

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None when the run is not waiting."""
        for i, d in enumerate(self._queue(), start=1):
            if d.name == run_id:
                return i
        return None

    def active(self) -> list[RunInfo]:
        """Every run in the runs folder that is queued, starting, running or paused, whoever started it."""
        out = []
        for d in self._run_dirs():
            meta = read_meta(d)
            if meta.get("status") in ACTIVE and (state := run_state(d, meta)) in ACTIVE:
                out.append(RunInfo(run_id=d.name, dir=d, state=state, error=meta.get("error"),
                                   owner=meta.get("owner"), sweep=meta.get(SWEEP_QUEUE_KEY) or None))
        return out

    def cancel(self, run_id: str) -> None:
        """Stop a running run at its next batch, or take a queued one out of the queue."""
        with self._lock:
            run_dir = self._dir(run_id)
            if run_dir is None:
                raise KeyError(f"no run {run_id!r} in this server's runs folder")
            if read_meta(run_dir).get("status") == "queued":
                update_meta(run_dir, status="stopped", pid=None)
                return
        self.control(run_id).stop()

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        """Block until the run has ended (tests, sweeps, the CLI); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.info(run_id)
            if info is None or info.state not in ACTIVE:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the runs this manager queued or started and wait for their processes (tests). A server that only
        goes away (restart, crash) does not call this: its runs go on and the next server adopts them."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)
        with self._lock:
            self.warm.close()
            for d in self._queue():
                update_meta(d, status="stopped", pid=None)
            procs = dict(self._procs)
        for run_id in procs:
            ControlFile(self.root / run_id).stop()
        deadline = time.monotonic() + timeout
        for run_id, proc in procs.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                proc.wait(5)
            self._reaped(run_id, proc)
        with self._lock:
            self._procs.clear()

    # --- the scheduler ---
    def tick(self) -> None:
        """Reap ended processes, then start queued runs while there is room. Cheap enough to call on every poll."""
        with self._lock:
            for run_id, proc in list(self._procs.items()):
                if proc.poll() is not None:
                    del self._procs[run_id]
                    self._reaped(run_id, proc)
            active = sweeps = 0
            for d in self._run_dirs():
                meta = read_meta(d)
                if meta.get("status") not in LIVE:
                    continue
                if run_state(d, meta) in ACTIVE:
                    active += 1
                    sweeps += bool(meta.get(SWEEP_QUEUE_KEY))
                else:  # its process died while no server of ours watched it: say so once, for good
                    update_meta(d, status="interrupted", pid=None,
                                error=meta.get("error") or "its process ended before the run did")
            for run_dir in self._queue():
                if active >= self.max_running:
                    break
                swept = bool(read_meta(run_dir).get(SWEEP_QUEUE_KEY))
                if swept and sweeps >= self.sweep_share:
                    break  # the queue's order puts every Start first: only sweeps' runs are left
                if self._launch(run_dir):
                    active += 1
                    sweeps += swept
            if not self._stop.is_set():
                self.warm.refill()  # after the launches: a Start takes the spare, then the next one starts

    def _loop(self, tick_seconds: float) -> None:
        trimmed = time.monotonic()
        while not self._stop.wait(tick_seconds):
            try:
                self.tick()
            except OSError:
                continue  # a folder deleted under us, a full disk: the next tick sees the new state
            if time.monotonic() - trimmed > TRIM_SECONDS:  # the server's memory stays flat over a day of classes
                release_free_memory()
                trimmed = time.monotonic()

    def _launch(self, run_dir: Path) -> bool:
        """Claim a queued run (one server wins, even with several on one runs folder) and start its process."""
        try:
            fd = os.open(run_dir / LAUNCH, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        os.close(fd)
        update_meta(run_dir, status="starting", launched_at=time.time(), pid=None)
        proc = self.warm.hand(run_dir)
        warm = proc is not None
        command = self.warm.command() if warm else self.launcher.command(run_dir)
        write_stage(run_dir, "warm" if warm else "process")
        try:
            proc = proc or self.launcher.start(run_dir)
        except (OSError, ValueError) as e:
            update_meta(run_dir, status="failed", error=f"could not start the run's process: {e}")
            return False
        atomic_write_json(run_dir / LAUNCH, {"pid": proc.pid, "host": socket.gethostname(), "time": time.time(),
                                             "command": command, "warm": warm})
        self._procs[run_dir.name] = proc
        return True

    def _reaped(self, run_id: str, proc: subprocess.Popen) -> None:
        """A process this manager started has ended. If the run did not say how (killed, crashed before its first
        record), say it for the run: interrupted when a signal ended it, failed otherwise, with the log's tail."""
        run_dir = self.root / run_id
        code = proc.returncode
        launch = _read_dict(run_dir / LAUNCH)
        if launch:
            atomic_write_json(run_dir / LAUNCH, {**launch, "exit": code})
        meta = read_meta(run_dir)
        if meta.get("status") not in LIVE:
            return  # it ended and wrote so, or it was requeued
        if code == 0 and self.launcher.template is not None and meta.get("status") == "starting":
            return  # a launcher that hands the run to a scheduler and returns: its heartbeat will come
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            status, error = "interrupted", f"its process was killed ({name})"
        else:
            status, error = "failed", f"its process ended with exit code {code}: {_tail(run_dir / PROCESS_LOG)}"
        update_meta(run_dir, status=status, error=error, pid=None)

    # --- the runs folder ---
    def _dir(self, run_id: str | None) -> Path | None:
        if not run_id or "/" in run_id or run_id.startswith("."):
            return None
        path = self.root / run_id
        return path if RunFolder(path).is_run() else None

    def _run_dirs(self) -> list[Path]:
        try:
            return [d for d in self.root.iterdir() if RunFolder(d).is_run()]
        except FileNotFoundError:
            return []

    def _queue(self) -> list[Path]:
        """Queued runs in the order they start: everyone's Starts first come first, then sweeps' runs."""
        queue = queued_runs(self.root)
        swept = {d for d in queue if read_meta(d).get(SWEEP_QUEUE_KEY)}
        return [d for d in queue if d not in swept] + [d for d in queue if d in swept]


def stop_runs(root: Path | str, timeout: float = 15.0) -> None:
    """Stop every active run in a runs folder, whoever started it (tests and benchmarks that end their server; a
    server that only restarts must not: its runs go on). Queued runs are taken out of the queue; running ones are
    asked to stop through their control file, and SIGKILLed if they have not ended after ``timeout`` seconds."""
    root = Path(root)
    dirs = [d for d in root.iterdir() if RunFolder(d).is_run()] if root.is_dir() else []
    live = []
    for d in dirs:
        meta = read_meta(d)
        if meta.get("status") == "queued":
            update_meta(d, status="stopped", pid=None)
        elif run_state(d, meta) in ACTIVE:
            ControlFile(d).stop()
            live.append(d)
    deadline = time.monotonic() + timeout
    while live and time.monotonic() < deadline:
        live = [d for d in live if run_state(d) in ACTIVE]
        time.sleep(0.1)
    for d in live:  # still going: a run stuck in set-up, or one that ignores its control file
        pid = _read_dict(d / HEARTBEAT).get("pid") or _read_dict(d / LAUNCH).get("pid")
        if isinstance(pid, int):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _read_dict(path: Path) -> dict:
    try:
        data = read_json(path)
    except (FileNotFoundError, ValueError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no output recorded"
    return "\n".join(lines[-LOG_TAIL_LINES:]) or "no output recorded"


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the run's process group (it leads its own session: nothing else is in it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
