"""Give the C allocator's free memory back to the system now and then: the server runs each page's script in a
thread of its own, and glibc serves threads from arenas of their own, whose freed pages it keeps. Resident memory
then creeps from one wave of sessions to the next with nothing alive behind it (bench/native_waves.py: the native
allocations alive grew +2.3 MiB from wave 2 to wave 3, two 1 MiB arenas of Python's own allocator among them, while
the load test's resident memory grew +17 MiB). ``malloc_trim(0)`` returns every arena's free pages.

    start_trimmer()          # once per server: a daemon thread, every TRIM_S seconds
"""

from __future__ import annotations

import ctypes
import threading
import time

TRIM_S = 30.0
_started = threading.Lock()
_thread: threading.Thread | None = None


def trim() -> bool:
    """malloc_trim(0) once; False where there is no glibc (musl, macOS)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def start_trimmer(every: float = TRIM_S) -> bool:
    """Start the trimming thread unless it runs already; False where trimming is not available."""
    global _thread
    with _started:
        if _thread is not None:
            return True
        if not trim():
            return False
        _thread = threading.Thread(target=_loop, args=(every,), name="ffviz-malloc-trim", daemon=True)
        _thread.start()
    return True


def _loop(every: float) -> None:
    while True:
        time.sleep(every)
        trim()
