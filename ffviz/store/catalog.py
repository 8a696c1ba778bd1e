"""The catalogue of runs the app knows: one summary row per run folder, wherever it came from.

    rows = scan_runs({"shipped": Path("assets/runs"), "local": Path("runs")})
    row = summarize(Path("runs/x"), "local")      # one row, rebuilt only when the run's files change
    text = history_csv(RunReader(run_dir))        # one row per epoch, for download

Export and import of runs are in ffviz/store/archive.py, the retention policy in ffviz/store/retention.py.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffviz import regularizers
from ffviz.store.filecache import cached_build
from ffviz.store.folder import RunFolder
from ffviz.store.runs import RunReader
from ffviz.store.runstate import run_state


@dataclass
class RunSummary:
    dir: Path
    run_id: str
    source: str  # "shipped", "local", "uploaded"
    name: str
    created: str
    status: str  # queued, running, paused, finished, stopped, failed, interrupted
    dataset: str
    preset: str
    mode: str
    lambdas: dict[str, float]  # each regularizer's λ by name, as configured (ffviz/regularizers.py)
    epochs_done: int
    epochs: int
    test_acc: float | None  # alpha-weighted, final epoch
    best_val_acc: float | None
    train_time: float | None  # seconds
    device: str
    num_parameters: int | None
    size_bytes: int
    error: str | None
    owner: str | None = None  # the session token that started it; None: the teacher's (CLI, shipped)

    def as_row(self) -> dict[str, Any]:
        """Plain values for a table, each number one a table column holds (a NaN or an infinity: empty)."""
        return {"name": self.name, "date": self.created.replace("T", " "), "dataset": self.dataset,
                "preset": self.preset, "mode": self.mode,
                **{f"λ {regularizers.label(n)}": self.lambdas.get(n) for n in regularizers.REGULARIZERS},
                "epochs": f"{self.epochs_done}/{self.epochs}",
                "test acc %": _plain(self.test_acc, 2), "best val acc %": _plain(self.best_val_acc, 2),
                "wall time s": _plain(self.train_time, 1),
                "device": self.device, "parameters": _plain(self.num_parameters),
                "size MB": round(self.size_bytes / 1e6, 2), "status": self.status, "source": self.source,
                "id": self.run_id}


def _plain(x: float | None, digits: int = 0) -> float | None:
    """x rounded, or None where a table could not hold it (None, NaN, infinite, beyond 2**53)."""
    if x is None or not math.isfinite(x) or abs(x) > 2**53:
        return None
    return round(x, digits) if digits else x


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# The files a summary row is built from: while none changes, the row is reused (only its state is read again). The
# Runs page lists every run on each draw, and reading each run's records again for every session cost the server.
SUMMARY_FILES = (RunFolder.CONFIG, RunFolder.META, RunFolder.LOG_FILES["epochs"], RunFolder.TEST,
                 RunFolder.LOG_FILES["batches"])


def summarize(run_dir: Path, source: str) -> RunSummary:
    """One row of the Runs table for a run folder."""
    run_dir = Path(run_dir)
    row, meta = cached_build(("summary", str(run_dir), source), [run_dir / f for f in SUMMARY_FILES],
                             lambda: _summarize(run_dir, source))
    return dataclasses.replace(row, status=run_state(run_dir, meta))


def _summarize(run_dir: Path, source: str) -> tuple[RunSummary, dict[str, Any]]:
    reader = RunReader(run_dir)  # records and meta.json's known keys of their schema's types, or dropped
    meta, reader_epochs, test = reader.meta, reader.epochs, reader.test
    cfg = reader.config
    return RunSummary(
        dir=run_dir, run_id=run_dir.name, source=source, name=meta.get("name") or run_dir.name,
        created=meta.get("created", ""), status="",  # read on every call by summarize, never cached
        dataset=cfg.dataset, preset=cfg.preset, mode=cfg.mode, lambdas=regularizers.lambdas(cfg),
        epochs_done=int(meta.get("epochs_done", len(reader_epochs) and reader_epochs[-1].epoch)),
        epochs=cfg.epochs if not reader_epochs else max(cfg.epochs, reader_epochs[-1].epoch),
        test_acc=None if test is None else float(test.acc_alpha),
        best_val_acc=max((e.acc_alpha for e in reader_epochs if e.epoch > 0 and math.isfinite(e.acc_alpha)),
                         default=None),
        train_time=meta.get("train_time") or (reader_epochs[-1].time if reader_epochs else None),
        device=meta.get("device", ""), num_parameters=meta.get("num_parameters"), size_bytes=folder_size(run_dir),
        error=meta.get("error"), owner=meta.get("owner")), meta


def scan_runs(roots: dict[str, Path]) -> list[RunSummary]:
    """Every readable run folder under the given roots (source name -> folder), newest first. A folder that
    cannot be read is skipped, never fatal: one bad folder must not hide the others."""
    rows = []
    for source, root in roots.items():
        if not Path(root).is_dir():
            continue
        for d in Path(root).iterdir():
            if d.is_dir() and RunFolder(d).is_run():
                try:
                    rows.append(summarize(d, source))
                except Exception:  # noqa: BLE001 - whatever is wrong with this folder, the others are listed
                    continue
    return sorted(rows, key=lambda r: r.created, reverse=True)


def history_csv(reader: RunReader) -> str:
    """One row per epoch: scalars as columns, per-layer lists as one column per layer."""
    rows = []
    for e in reader.epochs:
        row: dict[str, Any] = {}
        for k, v in e.__dict__.items():
            if k in ("kind", "channels_per_class"):
                continue
            if isinstance(v, list):
                row.update({f"{k}_{i}": x for i, x in enumerate(v)})
            else:
                row[k] = v
        rows.append(row)
    if not rows:
        return ""
    out = io.StringIO()
    fields = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
