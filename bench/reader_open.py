"""What opening a run costs: the run reader (ffviz/store/runs.py) reads a run's config and meta without parsing its
logs, which it parses on the first record asked for. Times, over the shipped runs (assets/runs), a fresh reader's
config + meta, then its records (every log line parsed and checked), as medians of several rounds.

    python bench/reader_open.py              # writes the "reader-open" section of bench/REPORT.md
    python bench/reader_open.py --no-report  # prints only
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from report import machine_description, write_section

from ffviz.store.places import shipped_root
from ffviz.store.runs import RunReader, list_runs


def measure(dirs: list[Path], rounds: int) -> tuple[float, float, int]:
    """(median seconds for every run's config + meta, median seconds for every run's records, records read)."""
    opened, parsed, count = [], [], 0
    for _ in range(rounds):
        readers = [RunReader(d) for d in dirs]  # fresh readers: nothing cached but the meta file's parse
        t0 = time.perf_counter()
        heads = [(r.config, r.meta) for r in readers]
        t1 = time.perf_counter()
        count = sum(len(r.epochs) + len(r.batches) + len(r.events) for r in readers)
        t2 = time.perf_counter()
        assert len(heads) == len(readers)
        opened.append(t1 - t0)
        parsed.append(t2 - t1)
    return statistics.median(opened), statistics.median(parsed), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    dirs = list_runs(shipped_root())
    opened, parsed, count = measure(dirs, args.rounds)
    body = (f"Machine: {machine_description()}. {len(dirs)} shipped runs, {count} records in all, median of "
            f"{args.rounds} rounds.\n\n"
            f"| what | all runs | per run |\n| --- | --- | --- |\n"
            f"| open: config + meta (no log parsed) | {opened * 1e3:.1f} ms | {opened / len(dirs) * 1e3:.2f} ms |\n"
            f"| then the records (every line parsed, checked) | {parsed * 1e3:.1f} ms | "
            f"{parsed / len(dirs) * 1e3:.2f} ms |\n\n"
            f"Command: `python bench/reader_open.py --rounds {args.rounds}`")
    print(body)
    if not args.no_report:
        write_section("reader-open", "Opening a run: config and meta without its logs", body)


if __name__ == "__main__":
    main()
