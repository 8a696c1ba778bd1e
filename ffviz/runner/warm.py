"""The warm launcher: one spare run process kept ready, so that a Start trains at once instead of importing torch.

    pool = WarmPool(launcher, runs_root, size=1)      # $FFVIZ_WARM_SPARES (0 turns it off); started by RunManager
    proc = pool.hand(run_dir)                         # the spare now trains run_dir; None when none was ready
    pool.refill()                                      # a new spare for the next Start (and one that died replaced)

A spare is ``python -m ffviz.runner.spare`` (ffviz/runner/spare.py), started as a run's process is (same
niceness, its own session, the run's thread count and environment: the thread plan applies before torch loads).
It reads one run folder on its stdin and trains it; the manager then treats it as the run's process (reaped,
killed, adopted after a restart through its heartbeat like any other). Each spare serves one run: never two runs
in one process. A spare is a process the server holds: the limits table counts it, and with a launcher template
(a scheduler) there are no spares, since the run goes elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from ffviz.env import positive_int
from ffviz.runner.launcher import Launcher

WARM_ENV = "FFVIZ_WARM_SPARES"
DEFAULT_SPARES = 1
SPARE_LOG = ".spare.log"  # in the runs folder (not a run folder: listings skip it); a spare's output until its run
# A spare that dies within this long of its start is taken for one that cannot start (a broken environment): the
# next waits RETRY_SECONDS rather than restart in a tight loop. One that dies later (killed) is replaced at once.
EARLY_DEATH_SECONDS = 10.0
RETRY_SECONDS = 30.0


def spares_setting(environ: Mapping[str, str] = os.environ) -> tuple[int, str | None]:
    """How many spare processes the server keeps ready ($FFVIZ_WARM_SPARES; 0 turns them off)."""
    raw = environ.get(WARM_ENV, "").strip()
    if raw == "0":
        return 0, None
    return positive_int(environ, WARM_ENV, DEFAULT_SPARES, example=1,
                        unit=f"keeping {DEFAULT_SPARES} spare run process ready (0 turns spares off)")


class WarmPool:
    def __init__(self, launcher: Launcher, runs_root: Path, *, size: int = DEFAULT_SPARES) -> None:
        self.launcher = launcher
        self.root = Path(runs_root)
        self.size = size if launcher.template is None else 0
        self._spares: list[subprocess.Popen] = []
        self._born: dict[int, float] = {}  # pid -> when it started
        self._failed_at: float | None = None
        self.started = 0  # spares started so far (tests, the limits table)

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "ffviz.runner.spare", "--threads", str(self.launcher.threads)]
        return self.launcher.niced(cmd)

    def ready(self) -> int:
        """Spares alive and waiting."""
        return sum(1 for p in self._spares if p.poll() is None)

    def pids(self) -> list[int]:
        return [p.pid for p in self._spares if p.poll() is None]

    def refill(self) -> None:
        """Replace spares that died and start new ones up to the pool's size."""
        now = time.monotonic()
        for p in self._spares:
            if p.poll() is not None and now - self._born.pop(p.pid, now) < EARLY_DEATH_SECONDS:
                self._failed_at = now
        self._spares = [p for p in self._spares if p.poll() is None]
        if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_SECONDS:
            return
        while len(self._spares) < self.size:
            try:
                proc = self._start()
            except OSError:
                self._failed_at = time.monotonic()
                return
            self._spares.append(proc)
            self._born[proc.pid] = time.monotonic()
            self.started += 1

    def _start(self) -> subprocess.Popen:
        with open(self.root / SPARE_LOG, "ab") as log:
            return subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                    env=self.launcher.environment(), start_new_session=True, close_fds=True)

    def hand(self, run_dir: Path) -> subprocess.Popen | None:
        """Give run_dir to a waiting spare; it is no longer a spare (never handed a second run). None when no spare
        was alive to take it: the caller starts a cold process."""
        while self._spares:
            proc = self._spares.pop(0)
            self._born.pop(proc.pid, None)
            if proc.poll() is not None:
                continue
            try:
                assert proc.stdin is not None
                proc.stdin.write(f"{Path(run_dir).absolute()}\n".encode())
                proc.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                continue
            return proc
        return None

    def close(self, timeout: float = 5.0) -> None:
        """End the waiting spares (their input closes: they exit at once, or are killed)."""
        spares, self._spares = self._spares, []
        for proc in spares:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
        for proc in spares:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
