"""Give freed heap memory back to the operating system, for a long-lived server.

A Streamlit server runs every session's script in a thread of its own, and glibc's malloc gives busy threads arenas
of their own; memory freed when a session ends stays in those arenas, so the server's resident size climbs wave
after wave of a class although nothing is kept. ``malloc_trim(0)`` returns the free pages of every arena. The
RunManager's scheduler thread calls ``release_free_memory`` every TRIM_SECONDS.

    release_free_memory()      # True where glibc trimmed; False elsewhere (macOS, musl, Windows): nothing to do
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

TRIM_SECONDS = 30.0


@cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_memory() -> bool:
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
