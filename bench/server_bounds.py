"""What one student's clicks cost a real server: 4 TensorBoard exports asked for at once from one student (4 tabs,
one cookie), and 3 downloads at once of a 184 MiB run archive. Measures how many export workers ran at once, each
one's niceness and address-space cap (read from /proc while it runs), and the server's peak resident memory growth
(VmHWM after /proc/PID/clear_refs) for each; writes the "server-bounds" section of bench/REPORT.md.

    python bench/server_bounds.py                       # ~2 min; --archive-mib 184 --exports 4 --downloads 3

Targets (issue 27): at most the per-owner number of exports at once (ffviz/server/bounded.py), each niced and
capped; peak growth < 50 MiB for the exports and for the downloads (served from disk: ffviz/server/downloads.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appserver import AppServer  # noqa: E402
from report import machine_description, write_section  # noqa: E402
from st_client import AppSession  # noqa: E402

from ffviz.server.access import COOKIE, new_token  # noqa: E402


def tiny_run(root: Path) -> Path:
    from ffviz.config import RunConfig
    from ffviz.method.trainer import Trainer
    from ffviz.runner.run_writer import RunWriter
    from ffviz.store.runs import new_run_dir

    cfg = RunConfig(preset="classroom-mini", epochs=1, batch_size=128, probe_size=8, device="cpu")
    run_dir = new_run_dir(root, cfg)
    assert Trainer(cfg, callbacks=[RunWriter(run_dir)]).fit() == "finished"
    return run_dir


def padded_copy(run: Path, root: Path, mib: int) -> Path:
    """The run with its final checkpoint replaced by ``mib`` MiB of random bytes: an archive of that size (the
    download reads the file; nothing loads it)."""
    big = root / (run.name + "-big")
    shutil.copytree(run, big)
    with open(big / "checkpoints" / "final.pt", "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(2 ** 20))
    (big / "checkpoints" / "last.pt").unlink(missing_ok=True)
    return big


def status(pid: int, key: str) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(key + ":"))
    return int(line.split()[1]) / 1024


def reset_peak(pid: int) -> float:
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return status(pid, "VmRSS")


class Workers(threading.Thread):
    """Watches /proc for the export workers: how many at once, and each one's niceness and address-space cap."""

    def __init__(self, marker: bytes) -> None:
        super().__init__(daemon=True)
        self.marker, self.stop, self.most, self.seen = marker, False, 0, {}

    def run(self) -> None:
        while not self.stop:
            now = []
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    if self.marker not in (proc / "cmdline").read_bytes():
                        continue
                    nice = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[16])
                    cap = next(x for x in (proc / "limits").read_text().splitlines() if x.startswith("Max address"))
                except (OSError, StopIteration, ValueError):
                    continue
                now.append(proc.name)
                self.seen[proc.name] = (nice, cap.split()[3])
            self.most = max(self.most, len(now))
            time.sleep(0.05)


async def exports(url: str, run_id: str, n: int) -> list[str]:
    """n tabs of one student (one cookie) press TensorBoard (.zip) at once; returns what each page said."""
    token = new_token()
    tabs = [AppSession(url, cookies={COOKIE: token}, timeout=600) for _ in range(n)]
    for t in tabs:
        await t.__aenter__()
    pages = [await t.open("runs", f"run={run_id}") for t in tabs]
    done = await asyncio.gather(*(t.click(p.button("TensorBoard (.zip)")) for t, p in zip(tabs, pages, strict=True)))
    for t in tabs:
        await t.close()
    return [next((x for x in d.texts if "already have" in x or "Could not" in x), "ready" if d.links else "?")
            for d in done]


async def archive_url(url: str, run_id: str) -> str:
    async with AppSession(url, timeout=600) as s:
        page = await s.open("runs", f"run={run_id}")
        page = await s.click(page.button("Run archive (.zip)"))
        link = next(v for k, v in page.links.items() if k.startswith("Download"))
    return url + link


def fetch(url: str) -> int:
    n = 0
    with urllib.request.urlopen(url, timeout=600) as r:
        while chunk := r.read(2 ** 20):
            n += len(chunk)
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archive-mib", type=int, default=184)
    ap.add_argument("--exports", type=int, default=4)
    ap.add_argument("--downloads", type=int, default=3)
    ap.add_argument("--label", default="", help="e.g. 'loaded: other work on the machine'")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ffviz-bounds-") as tmp:
        runs = Path(tmp) / "runs"
        run = tiny_run(runs)
        big = padded_copy(run, runs, args.archive_mib)
        with AppServer(runs) as server:
            pid = server.proc.pid
            asyncio.run(archive_url(server.url, run.name))  # the first page loads: imports, caches
            watch = Workers(b"tensorboard-zip")
            watch.start()
            before = reset_peak(pid)
            said = asyncio.run(exports(server.url, run.name, args.exports))
            watch.stop = True
            watch.join()
            export_peak = status(pid, "VmHWM") - before
            link = asyncio.run(archive_url(server.url, big.name))
            before = reset_peak(pid)
            with ThreadPoolExecutor(args.downloads) as pool:
                sizes = list(pool.map(fetch, [link] * args.downloads))
            download_peak, download_held = status(pid, "VmHWM") - before, status(pid, "VmRSS") - before
    niced = sorted({nice for nice, _ in watch.seen.values()})
    caps = sorted({cap for _, cap in watch.seen.values()})
    lines = [f"Machine: {machine_description()}{' · ' + args.label if args.label else ''}.", "",
             f"- {args.exports} TensorBoard exports asked for at once by one student (one cookie, {args.exports} tabs):"
             f" {watch.most} worker(s) ran at once (per-owner bound 1), {len(watch.seen)} in all; their niceness "
             f"{niced}, address-space cap {caps} bytes; the tabs were told: {said}. Server peak RSS growth "
             f"{export_peak:+.1f} MiB (target < 50).",
             f"- {args.downloads} downloads at once of a {args.archive_mib} MiB run archive "
             f"({sizes[0] / 2 ** 20:.0f} MiB each, served from the static folder): server peak RSS growth "
             f"{download_peak:+.1f} MiB, resident after {download_held:+.1f} MiB (target < 50)."]
    body = "\n".join(lines) + "\n\nCommand: `python bench/server_bounds.py`"
    print(body)
    write_section("server-bounds", "Server bounds: exports and downloads of one student", body)
    return 0 if watch.most <= 1 and export_peak < 50 and download_peak < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
