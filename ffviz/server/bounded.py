"""The one way the server starts a worker process (an upload's check, the authors' logs' import, a TensorBoard
export): each is bounded however many students click.

    done = run_bounded([sys.executable, "-m", "ffviz...", ...], owner=token, timeout=300)   # or WorkerRefused
    done.answer, done.why, done.returncode                                           # its last JSON line, its error

Bounds, each against one thing a classroom did to a 2-core server (third review: 4 clicks ran 5 exports of ~720 MiB):
- at most MAX_WORKERS at once on the server (one more waits WAIT_S for a turn, then is refused) and one per owner
  (a second click of the same student is refused at once, while the first runs);
- niced (NICENESS) and its address space capped once its imports are in (ffviz/server/worker_limits.py), one thread
  (OMP/MKL/OpenBLAS), a time limit after which it is killed;
- its output streamed to files on disk (never held by the server), of which only the tail is read back;
- killed with its server: the kernel sends it SIGKILL when the server's thread that started it ends (the worker sets
  PR_SET_PDEATHSIG first thing, ffviz/server/worker_limits.py), so a server killed mid-check leaves no worker
  running on unsupervised. Its leftovers on disk are swept when the next
  server starts (ffviz/server/leftovers.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

MAX_WORKERS = 2  # each may load torch: ~0.5 GB and a core
WAIT_S = 60.0
NICENESS = 10  # the server and the classmates' runs come first
TIMEOUT_S = 300.0
TAIL_BYTES = 64 * 1024  # what is read back of a worker's output
PARENT_ENV = "FFVIZ_WORKER_PARENT"
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")

_turns = threading.BoundedSemaphore(MAX_WORKERS)
_owners_lock = threading.Lock()
_busy_owners: set[str] = set()
_running = 0  # workers running now (tests and the benchmark read it)


class WorkerRefused(RuntimeError):
    """No worker was started: the owner has one running, or the server is busy; the message says what to do."""


@dataclass
class Done:
    returncode: int | None  # None: killed at the time limit
    answer: dict | None  # the last JSON object it printed
    why: str  # "" when it exited 0 with an answer; else its last error line, or what happened


def running() -> int:
    return _running


def run_bounded(cmd: list[str], *, owner: str | None = None, timeout: float = TIMEOUT_S,
                env: dict[str, str] | None = None, cwd: str | Path | None = None, address_space: int | None = None,
                torch_first: bool = False, wait: float = WAIT_S) -> Done:
    """Run ``cmd`` (``[python, "-m" | "-c", ...]``) as a bounded worker and wait for it. ``address_space``: bytes it
    may map beyond what it has mapped once started (and torch imported, with ``torch_first``); None: the worker caps
    itself. Raises WorkerRefused when the owner already has a worker running or no turn came within ``wait``."""
    key = owner or ""
    with _owners_lock:
        if key in _busy_owners:
            raise WorkerRefused("you already have an upload, import or export running; wait until it finishes")
        _busy_owners.add(key)
    try:
        if not _turns.acquire(timeout=wait):
            raise WorkerRefused(f"the server is already running {MAX_WORKERS} uploads, imports or exports; try "
                                "again in a minute")
        try:
            return _run(cmd, timeout=timeout, env=env, cwd=cwd, address_space=address_space, torch_first=torch_first)
        finally:
            _turns.release()
    finally:
        with _owners_lock:
            _busy_owners.discard(key)


def _run(cmd: list[str], *, timeout: float, env: dict[str, str] | None, cwd: str | Path | None,
         address_space: int | None, torch_first: bool) -> Done:
    global _running
    full = [cmd[0], "-m", "ffviz.server.worker_limits", str(address_space or 0), str(NICENESS),
            *(["--torch"] if torch_first else []), "--", *cmd[1:]]
    env = dict(os.environ if env is None else env)
    for var in THREAD_VARS:
        env[var] = "1"  # one core: the others are the server's and the runs'
    with tempfile.TemporaryDirectory(prefix="ffviz-worker-") as tmp:
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            env[PARENT_ENV] = str(os.getpid())  # the worker dies with this server (worker_limits.die_with_parent)
            proc = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
            _running += 1
            try:
                code: int | None = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = None
            finally:
                _running -= 1
        answer = _last_json(_tail(out_path))
        if code is None:
            return Done(None, answer, f"it took longer than {timeout:.0f} s")
        if code == 0 and answer is not None:
            return Done(0, answer, "")
        lines = _tail(err_path).strip().splitlines()
        why = lines[-1].removeprefix("error: ") if lines else f"the worker ended with code {code}"
        if code < 0:
            why = f"the worker was stopped ({signal.Signals(-code).name}; out of its memory or time?)"
        return Done(code, answer, why)


def _tail(path: Path) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - TAIL_BYTES))
        return f.read().decode("utf-8", "replace")


def _last_json(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        try:
            out = json.loads(line)
        except ValueError:
            continue
        return out if isinstance(out, dict) else None
    return None
