"""Where the runs the app knows live: the runs folder (trained here or by the CLI), its uploads, and the runs that
ship with ffviz. A run is named by its folder's name wherever it lives; ``find_run`` says where.

    runs/                      local: the app's and the CLI's runs ($FFVIZ_RUNS_DIR)
    runs/uploaded/             uploaded archives and checkpoints
    assets/runs/               shipped with ffviz, read-only ($FFVIZ_SHIPPED_DIR to point elsewhere)

No Streamlit here: state.py and the pages both import it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ffviz.store.progress import runs_root
from ffviz.store.folder import RunFolder, is_folder_name
from ffviz.store.runs import list_runs

SHIPPED_ENV = "FFVIZ_SHIPPED_DIR"
REPO = Path(__file__).resolve().parents[3]
SOURCES = ("local", "uploaded", "shipped")  # lookup order: a name found twice resolves to the first


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
    for root in roots().values():
        path = root / run_id
        if RunFolder(path).is_run():
            return path
    return None


def source_of(run_dir: Path) -> str:
    parent = Path(run_dir).parent.resolve()
    for name, root in roots().items():
        if parent == root.resolve():
            return name
    return "local"


def all_run_ids() -> list[str]:
    """Every run, newest first within each source: local, uploaded, shipped."""
    out: list[str] = []
    for root in roots().values():
        out.extend(p.name for p in list_runs(root) if p.name not in out)
    return out


def is_shipped(run_dir: Path) -> bool:
    return Path(run_dir).resolve().is_relative_to(shipped_root().resolve())
