"""The Runs page's downloads, served from disk (ffviz/server/downloads.py): a button prepares the file once (the
archive written member by member, the checkpoint linked, the TensorBoard export built by a bounded worker), then a
link fetches it from the app's static folder in chunks. The server never holds a download in memory, as
``st.download_button`` would (it keeps every byte it is given, per session).

    downloads_ui.file_button("Run archive (.zip)", key="runs_dl_zip", name="x.zip", build_key=..., build=...)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path

import streamlit as st

from ffviz.interop.workers import WorkerError
from ffviz.server.downloads import Shelf, TooLarge
from ffviz.store import places
from ffviz.store.filecache import signature
from pages.common.frame.keys import RUNS_MSG_KEY as MSG_KEY


@st.cache_resource(show_spinner=False)
def shelf() -> Shelf:
    """The server's one shelf, in the app's static folder (Streamlit serves it: server.enableStaticServing)."""
    return Shelf(places.REPO / "static")


def files_key(kind: str, run_dir: Path, files: list[Path]) -> tuple:
    """What identifies a download's content: its kind, its run and the stat signatures of the files it is made of."""
    return kind, str(run_dir), tuple(signature(f) for f in files)


def file_button(label: str, *, key: str, name: str, build_key: Hashable, build: Callable[[Path], None], icon: str,
                help: str, disabled: bool = False) -> None:
    """A button that prepares ``name`` (``build(path)`` writes it); once ready, a link that downloads it."""
    ready = st.session_state.get(f"_dl_{key}")
    if ready is not None and ready[0] == build_key and not disabled:
        st.link_button(f"Download {name}", ready[1], icon=":material/download:", type="primary",
                       help="Fetched from the server's disk; the link stays valid for half an hour.")
        return
    st.button(label, key=key, icon=icon, help=help, disabled=disabled, on_click=_prepare,
              args=(key, name, build_key, build))


def _prepare(key: str, name: str, build_key: Hashable, build: Callable[[Path], None]) -> None:
    ss = st.session_state
    try:
        with st.spinner(f"Preparing {name}…"):
            path = shelf().offer(name, key=build_key, build=build)
    except (TooLarge, WorkerError, OSError, ValueError) as e:
        ss[MSG_KEY] = ("error", f"Could not prepare {name}: {e}")
        return
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    ss[f"_dl_{key}"] = (build_key, f"/{base + '/' if base else ''}{path}")
