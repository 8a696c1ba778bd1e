"""A class behind one network address: N students, every one from 127.0.0.1, each presses Start on the Train page.
In the proxy mode (each student named by the proxy's user header, X-Forwarded-Email as
oauth2-proxy sends it) or with school accounts, each student gets the
per-student bounds: N students, N runs training or queued. In the token mode, the same class is one address and gets
one address's share (max_runs_per_client), which is why the token mode is for lab networks only.

    python bench/class_one_address.py --students 30 --mode proxy     # 30 runs, one per student
    python bench/class_one_address.py --students 30 --mode token     # max_runs_per_client (4) runs
    python bench/class_one_address.py --students 30 --report         # both, into bench/REPORT.md

The server keeps one run training (FFVIZ_MAX_RUNNING=1) and lets the whole class queue (max_queue = N: the server's
queue is the teacher's setting, README: Running a classroom server); the runs are stopped at the end. Prints the
figures as JSON (--json writes them too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.appserver import AppServer  # noqa: E402
from bench.report import machine_description, write_section  # noqa: E402
from bench.st_client import AppSession  # noqa: E402

HEADER = "X-Forwarded-Email"  # as the README's oauth2-proxy example names it


async def student(url: str, name: str, seed: int, mode: str, gate: asyncio.Semaphore) -> tuple[str, float, str]:
    """One student: open Train, press Start; (name, seconds for the click, what the page said of it)."""
    headers = {HEADER: name} if mode == "proxy" else {}
    async with gate, AppSession(url, headers=headers, timeout=120) as s:
        page = await s.open("train", f"preset=classroom-mini&epochs=2&seed={seed}&device=cpu")
        t0 = time.perf_counter()
        page = await s.click(page.button("Start"))
        said = next((t for t in page.texts if t.startswith("Not started")), "started")
        return name, time.perf_counter() - t0, said


def owners(runs: Path) -> dict[str, str]:
    """run folder -> owner, for every run the server created."""
    out = {}
    for meta in runs.glob("*/meta.json"):
        out[meta.parent.name] = json.loads(meta.read_text()).get("owner", "")
    return out


async def drive(url: str, students: int, mode: str, concurrency: int) -> list[tuple[str, float, str]]:
    gate = asyncio.Semaphore(concurrency)
    return await asyncio.gather(*(student(url, f"student{i:02d}@school.edu", i, mode, gate)
                                  for i in range(students)))


async def without_header(url: str) -> str:
    """What a request that bypasses the proxy (no user header) is shown."""
    async with AppSession(url, timeout=120) as s:
        page = await s.open("", "")
        return " ".join(page.texts)[:300]


def measure(students: int, mode: str, concurrency: int) -> dict:
    from ffviz.runner.manager import stop_runs

    with tempfile.TemporaryDirectory(prefix="ffviz-class-") as tmp:
        runs = Path(tmp)
        env = {"FFVIZ_TEACHER_PASSWORD": "not-a-student", "FFVIZ_MAX_RUNNING": "1",
               "FFVIZ_LIMIT_MAX_QUEUE": str(students), "OMP_NUM_THREADS": "1"}
        if mode == "proxy":
            env["FFVIZ_PROXY_USER_HEADER"] = HEADER
        t0 = time.perf_counter()
        try:
            with AppServer(runs, env=env) as server:
                answers = asyncio.run(drive(server.url, students, mode, concurrency))
                made = owners(runs)
                bypass = asyncio.run(without_header(server.url))
        finally:
            stop_runs(runs)
    refused = [a for a in answers if a[2] != "started"]
    return {"mode": mode, "students": students, "runs": len(made), "distinct_owners": len(set(made.values())),
            "refused": len(refused), "refusal": refused[0][2][:200] if refused else None,
            "click_p50_s": sorted(a[1] for a in answers)[len(answers) // 2],
            "seconds": round(time.perf_counter() - t0, 1), "without_header": bypass}


def report(figures: list[dict]) -> str:
    rows = "\n".join(f"| {f['mode']} | {f['students']} | {f['runs']} | {f['distinct_owners']} | {f['refused']} | "
                     f"{f['click_p50_s']:.2f} s |" for f in figures)
    return (f"Machine: {machine_description()}. `python bench/class_one_address.py --students "
            f"{figures[0]['students']} --report`: every student from 127.0.0.1 presses Start once (one run trains, "
            "the rest queue; max_queue = the class).\n\n| mode | students | runs | owners | refused | click p50 |\n"
            f"| --- | --- | --- | --- | --- | --- |\n{rows}\n\nProxy mode: each student is the user the proxy "
            "names, with the per-student bounds. Token mode: the class is one address, bound by max_runs_per_client.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--mode", choices=("proxy", "token"), default="proxy")
    parser.add_argument("--concurrency", type=int, default=6, help="students pressing Start at once")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--report", action="store_true", help="both modes, into bench/REPORT.md")
    args = parser.parse_args()
    modes = ("proxy", "token") if args.report else (args.mode,)
    figures = [measure(args.students, mode, args.concurrency) for mode in modes]
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures[0]))
    if args.report:
        write_section("class-one-address", "A class behind one address", report(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
