"""Run Python code under the limits an upload worker has: a lower CPU priority and a cap on its address space.

    python -m ffviz.server.worker_limits BUDGET NICENESS [--torch] -- -m MODULE ARGS...    # or -c CODE ARGS...
    cap_address_space(budget)        # inside a worker: the cap is what is mapped now plus budget

The cap is set relative to what the process has mapped when it is set: importing torch maps ~3 GiB of address space
on a CPU build (more with CUDA's libraries) that it never touches, so a fixed figure would be wrong on one machine or
another. ``--torch`` imports torch first, then sets the cap; the upload worker sets its own once its cheap checks
have passed and torch is loaded (ffviz/server/upload_process.py). Beyond the cap an allocation fails inside the worker
(MemoryError, a refusal) instead of pushing the server or a classmate's run out of memory; and its CPU time yields
to the server's and the runs'.
"""

from __future__ import annotations

import os
import resource
import runpy
import signal
import sys
from pathlib import Path


def mapped_bytes() -> int:
    """The process's address space now (VmSize)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def cap_address_space(budget: int) -> int:
    """Cap this process's address space at what it has mapped now plus ``budget`` bytes; returns the cap."""
    cap = mapped_bytes() + int(budget)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    return cap


def die_with_parent() -> None:
    """SIGKILL this worker when the server's thread that started it ends (Linux' PR_SET_PDEATHSIG); and exit now if
    the server is gone already (died between starting it and this call). ffviz/server/bounded.py names the server's
    pid in $FFVIZ_WORKER_PARENT."""
    parent = os.environ.get("FFVIZ_WORKER_PARENT")
    if not parent:
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass  # not Linux: the server's time limit still holds
    if str(os.getppid()) != parent:
        os._exit(1)


def main(argv: list[str]) -> int:
    usage = "usage: python -m ffviz.server.worker_limits BUDGET NICENESS [--torch] -- (-m MODULE | -c CODE) ARGS..."
    if "--" not in argv or len(argv) < 4:
        print(usage, file=sys.stderr)
        return 2
    split = argv.index("--")
    head, rest = argv[:split], argv[split + 1:]
    budget, nice = int(head[0]), int(head[1])
    die_with_parent()
    os.nice(nice)
    if "--torch" in head[2:]:
        import torch  # noqa: F401 - mapped before the cap is measured
    if budget > 0:
        cap_address_space(budget)
    if len(rest) >= 2 and rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    elif len(rest) >= 2 and rest[0] == "-c":
        sys.argv = ["-c", *rest[2:]]
        exec(compile(rest[1], "<worker>", "exec"), {"__name__": "__main__"})  # noqa: S102 - our own command line
    else:
        print(usage, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
