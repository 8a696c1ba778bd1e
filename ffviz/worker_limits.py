"""Start a command under the limits an upload worker runs with: a lower CPU priority and a cap on its address space.

    python -m ffviz.worker_limits ADDRESS_SPACE_BYTES NICENESS -- COMMAND ARGS...

The limits are set in this small process and then it becomes COMMAND (exec), which inherits them: whatever a hostile
file makes the worker allocate fails inside the worker (MemoryError, a refusal) instead of pushing the server or a
classmate's run out of memory, and its CPU time yields to the server's and the runs'.
"""

from __future__ import annotations

import os
import resource
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m ffviz.worker_limits ADDRESS_SPACE_BYTES NICENESS -- COMMAND ARGS...", file=sys.stderr)
        return 2
    cap, nice = int(argv[0]), int(argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    os.nice(nice)
    os.execv(argv[3], argv[3:])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
