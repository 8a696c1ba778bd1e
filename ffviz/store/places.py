"""Where runs live, the one place that knows: the runs folder (trained here or by the CLI), its uploads, and the runs
that ship with ffviz. A run is named by its folder's name wherever it lives; ``find_run`` says where.

    runs/                      local: the app's and the CLI's runs ($FFVIZ_RUNS_DIR)
    runs/uploaded/             uploaded archives and checkpoints
    assets/runs/               shipped with ffviz, read-only ($FFVIZ_SHIPPED_DIR to point elsewhere)

    reader = places.open_run("20261126-172000-learnable-classroom")   # the shared RunReader, or None

``REPO`` is the folder that holds ffviz/ (the repository, in a checkout): the default runs folder, the shipped runs
and the assets are found from it, and a run's own process imports this copy of ffviz from it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ffviz.store.folder import RunFolder, is_folder_name
from ffviz.store.runs import RunReader, list_runs, open_reader

REPO = Path(__file__).resolve().parents[2]
RUNS_ENV = "FFVIZ_RUNS_DIR"
SHIPPED_ENV = "FFVIZ_SHIPPED_DIR"
SOURCES = ("local", "uploaded", "shipped")  # lookup order: a name found twice resolves to the first


def runs_root() -> Path:
    """Where the app keeps its runs: $FFVIZ_RUNS_DIR, else runs/ in the repository."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser().absolute() if env else REPO / "runs"


def shipped_root() -> Path:
    env = os.environ.get(SHIPPED_ENV)
    return Path(env).expanduser().absolute() if env else REPO / "assets" / "runs"


def uploaded_root() -> Path:
    return runs_root() / "uploaded"


def roots() -> dict[str, Path]:
    """Source name -> folder, in lookup order (the shape catalog.scan_runs takes)."""
    return {"local": runs_root(), "uploaded": uploaded_root(), "shipped": shipped_root()}


def find_run(run_id: str | None) -> Path | None:
    """The folder of the run with this name, or None (a name that is not a plain folder name is never looked up)."""
    if not is_folder_name(run_id):
        return None
    return next((path for root in roots().values() if RunFolder(path := root / run_id).is_run()), None)


def open_run(run_id: str | None) -> RunReader | None:
    """The reader of the run with this name, shared by every caller in this process and refreshed (only new lines
    are read); None when there is no such run."""
    path = find_run(run_id)
    if path is None:
        return None
    reader = open_reader(path)
    reader.refresh()
    return reader


def source_of(run_dir: Path) -> str:
    parent = Path(run_dir).parent.resolve()
    return next((name for name, root in roots().items() if parent == root.resolve()), "local")


def all_run_ids() -> list[str]:
    """Every run, newest first within each source: local, uploaded, shipped."""
    out: list[str] = []
    for root in roots().values():
        out.extend(p.name for p in list_runs(root) if p.name not in out)
    return out


def is_shipped(run_dir: Path) -> bool:
    return Path(run_dir).resolve().is_relative_to(shipped_root().resolve())
