"""The Runs page's table: every run the app knows, its filters and sorting, and the picker of one run.

Every run comes from catalog.scan_runs over the three places of ffviz/store/places.py; a summary is cached per
run
folder until its files change, so a table of a hundred runs does not re-read a hundred histories.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ffviz.config import MODES
from ffviz.data import dataset_names
from ffviz.store import places
from ffviz.store.catalog import RunSummary, scan_runs
from ffviz.store.folder import STATES
from ffviz.store.notes import read_notes
from pages.common.frame import state
from pages.common.frame.keys import RUNS_PICK_KEY as PICK_KEY

SORTS = {"newest first": ("date", False), "test accuracy": ("test acc %", False),
         "best validation accuracy": ("best val acc %", False), "wall time": ("wall time s", True),
         "name": ("name", True)}
COLUMNS = {
    "λ entropy": st.column_config.NumberColumn("λ entropy", format="%g"),
    "λ orth": st.column_config.NumberColumn("λ orth", format="%g"),
    "test acc %": st.column_config.ProgressColumn("test acc %", min_value=0, max_value=100, format="%.1f",
                                                  color="#1F77B4",
                                                  help="α-weighted vote on the test split, at the last epoch"),
    "best val acc %": st.column_config.NumberColumn("best val acc %", format="%.1f",
                                                    help="Best α-weighted validation accuracy over the epochs"),
    "wall time s": st.column_config.NumberColumn("wall time s", format="%.0f", help="Training seconds"),
    "parameters": st.column_config.NumberColumn("parameters", format="localized"),
    "size MB": st.column_config.NumberColumn("size MB", format="%.1f"),
}
# What a user scans first on the left; the folder's name (id) is in the picker below, not in the table.
ORDER = ("title", "name", "status", "source", "date", "dataset", "preset", "mode", "start", "λ entropy", "λ orth",
         "epochs", "test acc %", "best val acc %", "wall time s", "device", "parameters", "size MB")


# ----------------------------------------------------------------------------------------------------- rows
def all_rows() -> list[RunSummary]:
    """Every readable run, newest first, each in the state its folder says now (ffviz.store.catalog.scan_runs: a row is
    rebuilt only when its files change, its state is read on every call)."""
    return scan_runs(places.roots())


def label(row: RunSummary) -> str:
    when = row.created.replace("T", " ")[:16]
    return f"{row.name} · {row.mode} · {row.source} · {when}"


def filters(rows: list[RunSummary]) -> list[RunSummary]:
    """Search, dataset, mode, status, source and sort order; returns the rows to show."""
    c = st.columns([2.2, 1.2, 1.2, 1.2, 1.2, 1.5], vertical_alignment="bottom")
    text = c[0].text_input("Search", key="runs_search", placeholder="name, preset, device…",
                           help="Shows the runs whose name, id, preset or device contains this text.").strip().lower()
    datasets = c[1].multiselect("Dataset", dataset_names(), key="runs_dataset", placeholder="all")
    modes = c[2].multiselect("Mode", MODES, key="runs_mode", placeholder="all")
    statuses = c[3].multiselect("Status", STATES, key="runs_status", placeholder="all")
    where = c[4].multiselect("Source", places.SOURCES, key="runs_source", placeholder="all",
                             help="local: trained here or by the CLI; uploaded; shipped with ffviz.")
    sort = c[5].selectbox("Sort by", list(SORTS), key="runs_sort", help="Or click a column's header in the table.")
    shown = [r for r in rows if (not text or text in f"{r.name} {r.run_id} {r.preset} {r.device} "
                                                     f"{read_notes(r.dir).title}".lower())
             and (not datasets or r.dataset in datasets) and (not modes or r.mode in modes)
             and (not statuses or r.status in statuses) and (not where or r.source in where)]
    column, ascending = SORTS[sort]
    missing_last = [r for r in shown if r.as_row()[column] is None]
    present = sorted((r for r in shown if r.as_row()[column] is not None), key=lambda r: r.as_row()[column],
                     reverse=not ascending)
    return present + missing_last


def table(rows: list[RunSummary]) -> None:
    """The table; clicking a row picks that run below."""
    st.session_state["_runs_shown"] = [r.run_id for r in rows]
    try:
        df = pd.DataFrame([r.as_row() for r in rows])
        df.insert(0, "title", [read_notes(r.dir).title for r in rows])  # the owner's (plain text, shown as typed)
        df["date"] = df["date"].astype(str).str.slice(0, 16)  # to the minute
        st.dataframe(df, key="runs_table", hide_index=True, column_config=COLUMNS, column_order=ORDER,
                     on_select=_table_picked,
                     selection_mode="single-row", height=min(38 + 35 * max(len(rows), 3), 420))
    except Exception as e:  # noqa: BLE001 - one run's values must not take the page (and its Delete) with it
        st.error(f"The table could not be drawn ({type(e).__name__}: {str(e)[:200]}). Pick a run below to open, "
                 "download or delete it.", icon=":material/error:")


def _table_picked() -> None:
    picked = st.session_state["runs_table"].selection.rows
    shown = st.session_state.get("_runs_shown", [])
    if picked and picked[0] < len(shown):
        st.session_state[PICK_KEY] = shown[picked[0]]


def pick(rows: list[RunSummary]) -> RunSummary | None:
    """The run the actions below apply to: the table's selection, or this picker."""
    by_id = {r.run_id: r for r in rows}
    if not rows:
        st.info("No run matches these filters.", icon=":material/filter_alt_off:")
        return None
    ss = st.session_state
    if ss.get(PICK_KEY) not in by_id:
        current = state.current_run_id()
        ss[PICK_KEY] = current if current in by_id else rows[0].run_id
    run_id = st.selectbox("Run", list(by_id), key=PICK_KEY, format_func=lambda r: label(by_id[r]),
                          help="Or click a row of the table.")
    return by_id[run_id]
