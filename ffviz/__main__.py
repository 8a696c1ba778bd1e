"""``python -m ffviz``: see ffviz/cli.py. This file only plans the run's CPU threads first
(ffviz/runner/threads.py): how OpenMP's threads wait is read once, when torch loads, and the CLI's imports load
torch."""

import sys


def main() -> int:
    from ffviz.runner import threads

    argv = sys.argv[1:]
    if argv[:1] == ["train"]:  # the commands that train; the others keep torch's defaults
        threads.apply(threads.plan(threads.requested_threads(argv)))
    from ffviz.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
