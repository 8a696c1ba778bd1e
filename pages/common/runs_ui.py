"""The Runs, Compare and Gap pages' blocks: the run table and its filters, what can be done with one run (open,
download, continue, delete), uploads, and the runs a comparison reads.

Every run the app knows comes from catalog.scan_runs over the three places in pages/common/sources.py; a summary is
cached per run folder until its files change, so a table of a hundred runs does not re-read a hundred histories.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import streamlit as st

from ffviz import access
from ffviz.catalog import (
    MAX_UPLOAD_BYTES,
    RunSummary,
    UploadError,
    delete_run,
    export_archive,
    history_csv,
    retention_limit,
    summarize,
)
from ffviz.config import MODES, RunConfig
from ffviz.data import dataset_names
from ffviz.figures.compare import GAP_MODES, MODE_NAMES, ComparedRun, unique_labels
from ffviz.launcher import max_running_setting
from ffviz.runs import RunReader, new_run_dir, update_meta
from ffviz.runstate import ACTIVE, STATES, run_state
from ffviz.ui_state import runs_root
from ffviz.upload_process import import_in_process
from pages.common import access_ui, classroom, settings, sources, state
from pages.common.keys import GAP_KEYS
from pages.common.text import plain
from pages.common.widgets import STATUS_COLORS

GOTO_KEY = "_runs_goto"
MSG_KEY = "_runs_msg"
PICK_KEY = "runs_pick"
CONTINUABLE = ("finished", "stopped", "interrupted")
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
ORDER = ("name", "status", "source", "date", "dataset", "preset", "mode", "λ entropy", "λ orth", "epochs",
         "test acc %", "best val acc %", "wall time s", "device", "parameters", "size MB")


# ----------------------------------------------------------------------------------------------------- rows
def _signature(run_dir: Path) -> tuple:
    out = []
    for name in ("config.json", "meta.json", "epochs.jsonl", "test.json"):
        try:
            s = (run_dir / name).stat()
            out.append((s.st_mtime_ns, s.st_size))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


@st.cache_data(show_spinner=False, max_entries=1000)
def _summary(path: str, source: str, signature: tuple) -> RunSummary | None:
    del signature  # the cache key: a new epoch or a new status reads the folder again
    try:
        return summarize(Path(path), source)
    except Exception:  # noqa: BLE001 - a folder that does not read is left out of the table, never breaks the page
        return None


def all_rows() -> list[RunSummary]:
    """Every readable run, newest first, each in the state its folder says now."""
    rows = []
    for source, root in sources.roots().items():
        if not root.is_dir():
            continue
        for d in root.iterdir():
            if (d / "config.json").is_file() and (row := _summary(str(d), source, _signature(d))) is not None:
                # The cached summary's state may be stale (a process dies without touching the files the cache
                # key watches): an active run's state is read again, from its heartbeat.
                rows.append(_with_status(row, run_state(d)) if row.status in ACTIVE else row)
    return sorted(rows, key=lambda r: r.created, reverse=True)


def _with_status(row: RunSummary, status: str) -> RunSummary:
    return dataclasses.replace(row, status=status)


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
    where = c[4].multiselect("Source", sources.SOURCES, key="runs_source", placeholder="all",
                             help="local: trained here or by the CLI; uploaded; shipped with ffviz.")
    sort = c[5].selectbox("Sort by", list(SORTS), key="runs_sort", help="Or click a column's header in the table.")
    shown = [r for r in rows if (not text or text in f"{r.name} {r.run_id} {r.preset} {r.device}".lower())
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
    df = pd.DataFrame([r.as_row() for r in rows])
    df["date"] = df["date"].str.slice(0, 16)  # to the minute
    st.dataframe(df, key="runs_table", hide_index=True, column_config=COLUMNS, column_order=ORDER,
                 on_select=_table_picked,
                 selection_mode="single-row", height=min(38 + 35 * max(len(rows), 3), 420))


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


# ----------------------------------------------------------------------------------------------------- one run
def goto_if_requested() -> None:
    """A callback asked for another page (Open, Continue): go there, the run in the URL."""
    if goto := st.session_state.pop(GOTO_KEY, None):
        st.switch_page(goto, query_params={state.RUN_KEY: state.current_run_id() or ""})


def _checkpoint(run_dir: Path) -> Path | None:
    return next((p for p in (run_dir / "checkpoints" / "final.pt", run_dir / "checkpoints" / "last.pt")
                 if p.exists()), None)


def _has_history(run_dir: Path) -> bool:
    path = run_dir / "epochs.jsonl"
    return path.exists() and path.stat().st_size > 0


def actions(row: RunSummary) -> None:
    """What can be done with the picked run: open it, download it, continue it, delete it."""
    with st.container(border=True):
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.markdown(f"#### {plain(row.name)}")
            st.badge(row.status, color=STATUS_COLORS.get(row.status, "gray"))
            st.badge(row.source, color="violet" if row.source == "shipped" else "gray")
        test = "–" if row.test_acc is None else f"{row.test_acc:.1f}%"
        st.caption(f"{plain(row.run_id)} · {row.dataset} · {row.preset} · {row.mode} · epoch {row.epochs_done}/"
                   f"{row.epochs} · test accuracy {test} · {row.device or 'device unknown'}")
        if row.error:
            st.error(f"This run failed: {plain(row.error)}", icon=":material/error:")
        history = _has_history(row.dir)
        with st.container(horizontal=True, gap="small"):
            st.button("Open", icon=":material/visibility:", type="primary", key="runs_open", on_click=_open,
                      args=(row.run_id,), disabled=not history or classroom.locked("run_picker"),
                      help="Show this run on every page (Assignments, Regularizers, Goodness, Layer contributions)."
                      if history else "This run has no history to show (a bare checkpoint): continue it first.")
            _downloads(row, history)
        _continue_block(row)
        _delete_block(row)


def _open(run_id: str) -> None:
    settings.open_run(run_id)
    st.session_state[GOTO_KEY] = "pages/assignments.py"


def _downloads(row: RunSummary, history: bool) -> None:
    run_dir, ck = row.dir, _checkpoint(row.dir)
    st.download_button("Run archive (.zip)", data=lambda: export_archive(run_dir), file_name=f"{row.run_id}.zip",
                       mime="application/zip", icon=":material/folder_zip:", key="runs_dl_zip", on_click="ignore",
                       help="The whole run folder (records, snapshots, final checkpoint): upload it to any ffviz.")
    st.download_button("Checkpoint (.pt)", data=(lambda: ck.read_bytes()) if ck else b"", on_click="ignore",
                       file_name=f"{row.run_id}-{ck.name if ck else 'none.pt'}", mime="application/octet-stream",
                       icon=":material/download:", key="runs_dl_ckpt", disabled=ck is None,
                       help="The weights with their config; load with ffviz.checkpoint.load_checkpoint."
                       if ck else "This run has no checkpoint (it never finished an epoch).")
    st.download_button("History (.csv)", data=lambda: history_csv(RunReader(run_dir)), mime="text/csv",
                       file_name=f"{row.run_id}-history.csv", icon=":material/table:", key="runs_dl_csv",
                       on_click="ignore", disabled=not history, help="One row per epoch, one column per metric "
                       "and layer.")


def _continue_block(row: RunSummary) -> None:
    locked = classroom.locked("start") or classroom.hidden("start")
    # A shipped run is continued as a copy of one's own; any other run, by its owner or the teacher only.
    others = None if row.source == "shipped" else access.why_not(access_ui.identity(), {"owner": row.owner})
    ok = row.status in CONTINUABLE and _checkpoint(row.dir) is not None and not locked and others is None
    why = ("Training is locked by this classroom link." if locked else others or "" if ok or others else
           "Only a finished, stopped or interrupted run with a checkpoint can be continued.")
    st.session_state.setdefault("runs_more", 5)
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    more = c1.number_input("More epochs", min_value=1, max_value=access_ui.limits().max_epochs, step=1,
                           key="runs_more", disabled=not ok)
    with c2:
        st.button(f"Continue for {more} more epochs", icon=":material/fast_forward:", key="runs_continue",
                  on_click=_continue, args=(row, int(more)), disabled=not ok,
                  help=why or ("From its checkpoint, adding to the same history. A shipped run is first copied to "
                               "the runs folder." if row.source == "shipped" else "From its checkpoint, adding to "
                               "the same history."))
        if row.source == "shipped" and ok:
            st.caption("Shipped runs stay as they are: the continuation trains a copy in the runs folder.")
        elif others:
            st.caption(f":material/visibility: {others}")


def copy_shipped(run_dir: Path) -> Path:
    """A copy of a shipped run in the runs folder, to continue (shipped runs are never written to)."""
    cfg = RunConfig.from_dict(RunReader(run_dir).config.to_dict())
    name = RunReader(run_dir).meta.get("name") or run_dir.name
    dest = new_run_dir(runs_root(), cfg, f"{name} continued")
    shutil.copytree(run_dir, dest, dirs_exist_ok=True)
    update_meta(dest, name=f"{name} (continued)", created=dt.datetime.now().isoformat(timespec="seconds"),
                continued_from=run_dir.name, pid=None)
    return dest


def continue_run(row: RunSummary, more: int) -> str | None:
    """Queue row's run for ``more`` epochs beyond where it stopped (a shipped run: its copy). Returns the run id, or
    None when this session may not (not its run, or beyond the server's limits: the message is kept to show)."""
    shipped = sources.is_shipped(row.dir)
    if not shipped and not access_ui.guard({"owner": row.owner}, "continue this run"):
        return None
    cfg = RunReader(row.dir).config.replace(epochs=row.epochs_done + more)
    if not access_ui.check_submit(cfg, state.manager().active(), new_run=shipped):
        return None
    run_dir = copy_shipped(row.dir) if shipped else row.dir
    run_id = state.manager().submit_continue(run_dir, epochs=row.epochs_done + more)
    state.keep_bounded(run_dir.parent)  # a shipped run's copy is one more run in the runs folder
    return run_id


def _continue(row: RunSummary, more: int) -> None:
    try:
        run_id = continue_run(row, more)
    except (ValueError, FileNotFoundError, OSError) as e:
        st.session_state[MSG_KEY] = ("error", f"Could not continue {row.name}: {e}")
        return
    if run_id is None:
        return
    state.set_current_run(run_id)
    st.session_state[GOTO_KEY] = "pages/train.py"


def _delete_block(row: RunSummary) -> None:
    ss = st.session_state
    if row.source == "shipped":
        st.caption(":material/lock: This run ships with ffviz and cannot be deleted. Continuing it trains a copy.")
        return
    if classroom.current().classroom:
        st.caption(":material/lock: Deleting runs is switched off in this classroom.")
        return
    others = access.why_not(access_ui.identity(), {"owner": row.owner})
    if ss.get("_runs_confirm") != row.run_id:
        active = row.status in ACTIVE
        st.button("Delete…", icon=":material/delete:", key="runs_delete", disabled=active or others is not None,
                  on_click=lambda: ss.__setitem__("_runs_confirm", row.run_id),
                  help=others or ("Stop it first: a run that is training cannot be deleted." if active else
                                  "Asks for a confirmation first."))
        return
    st.warning(f"Delete **{plain(row.name)}** and everything it recorded? This cannot be undone.",
               icon=":material/delete:")
    with st.container(horizontal=True, gap="small"):
        st.button("Yes, delete it", type="primary", key="runs_delete_yes", on_click=_delete, args=(row,))
        st.button("Cancel", key="runs_delete_no", on_click=lambda: ss.pop("_runs_confirm", None))


def _delete(row: RunSummary) -> None:
    ss = st.session_state
    ss.pop("_runs_confirm", None)
    if not access_ui.guard({"owner": row.owner}, "delete this run"):
        return
    try:
        delete_run(row.dir, protected_roots=[sources.shipped_root()])
    except (PermissionError, FileNotFoundError, OSError) as e:
        ss[MSG_KEY] = ("error", str(e))
        return
    if state.current_run_id() == row.run_id:
        state.set_current_run(None)
    ss[MSG_KEY] = ("success", f"Deleted {row.name}.")


# ----------------------------------------------------------------------------------------------------- uploads
def store_upload(data: bytes, filename: str) -> Path:
    """An uploaded archive or checkpoint, checked, as a run folder under runs/uploaded owned by this session (raises
    UploadError), within the server's limits on what one upload may unpack to."""
    bound = access_ui.limits()
    # checked in a process of its own: the server imports no torch, and a hostile file costs it nothing
    return import_in_process(data, sources.uploaded_root(), filename=filename, owner=access_ui.identity().token,
                             max_unpacked=bound.max_upload_unpacked, max_records_bytes=bound.max_records_bytes)


def take_upload() -> None:
    """Before the picker is drawn: import a newly uploaded file once, and pick the run it became."""
    ss = st.session_state
    f = ss.get("runs_upload")
    if f is None or ss.get("_runs_upload_id") == f.file_id:
        return
    ss["_runs_upload_id"] = f.file_id
    try:
        run_dir = store_upload(f.getvalue(), f.name)
    except UploadError as e:
        ss[MSG_KEY] = ("error", str(e))
        return
    state.keep_bounded(run_dir.parent)
    ss[PICK_KEY] = run_dir.name
    ss[MSG_KEY] = ("success", f"Uploaded {f.name}: it is in the table as {run_dir.name}.")


def upload_box() -> None:
    mb = MAX_UPLOAD_BYTES // 1024 // 1024
    st.file_uploader("Upload a run archive (.zip, as downloaded here) or an ffviz checkpoint (.pt)", type=["zip", "pt"],
                     key="runs_upload", max_upload_size=mb, disabled=classroom.current().classroom,
                     help="Archives are unpacked file by file, every name and size checked; checkpoints load "
                          "weights only. Nothing else on the server changes if the file is refused.")
    st.caption(f"Up to {mb} MB. A bare checkpoint becomes a run without history: continue it to get one.")


def retention_note() -> None:
    """The retention policy, stated where runs disappear from (and a bad $FFVIZ_MAX_RUNS, said plainly)."""
    limit, problem = retention_limit()
    if problem:
        st.warning(problem, icon=":material/warning:")
    st.caption(f"This server keeps the newest {limit} runs trained here and the newest {limit} uploads; when a run "
               "starts or an upload arrives, older ones beyond that are deleted (never a run that is training, never "
               "the runs that ship with ffviz). Download a run to keep it.")
    running, problem = max_running_setting()
    if problem:
        st.warning(problem, icon=":material/warning:")
    st.caption(f"Each run trains in its own process. At most {running} train at once on this server "
               f"(FFVIZ_MAX_RUNNING; the default follows this machine's CPU cores and GPUs); others wait in a "
               f"queue, first come first.")
    with st.expander("This server's limits", icon=":material/speed:", key="runs_limits"):
        st.caption("Every run started, resumed or continued here stays within these, whatever a link or an upload "
                   "asks. The teacher sets them (README: Running a classroom server).")
        st.markdown("\n".join(f"- `{name}` **{value}**: {what}" for name, value, what in
                              access_ui.limits().describe()))
        for note in access_ui.limit_notes():
            st.warning(plain(note), icon=":material/warning:")


def message() -> None:
    """The outcome of the last upload, delete or continue, once."""
    kind, text = st.session_state.pop(MSG_KEY, (None, None))
    if kind == "error":  # names and messages from uploads: shown as typed, never as Markdown
        st.error(plain(text), icon=":material/error:")
    elif kind == "success":
        st.success(plain(text), icon=":material/check_circle:")


# ----------------------------------------------------------------------------------------------------- comparing
def compared(run_ids: list[str]) -> list[ComparedRun]:
    """The runs a comparison reads, each labelled by its name (numbered where two share one)."""
    runs = [ComparedRun.of(lr.reader) for r in run_ids if (lr := state.live(r)) is not None]
    for run, name in zip(runs, unique_labels([r.label for r in runs]), strict=True):
        run.label = name
    return runs


def _default_of(rows: list[RunSummary]) -> str:
    """The run a picker starts on: a shipped run with the default λs, else any shipped run, else the newest."""
    defaults = RunConfig()
    shipped = [r for r in rows if r.source == "shipped"]
    plain = [r for r in shipped if (r.lambda_entropy, r.lambda_orth) == (defaults.lambda_entropy,
                                                                          defaults.lambda_orth)]
    return (plain or shipped or rows)[0].run_id


def default_compare(rows: list[RunSummary]) -> list[str]:
    """The session's run and the newest other run on its data; else the shipped learnable and static runs."""
    current = state.current_run_id()
    by_id = {r.run_id: r for r in rows}
    if current in by_id:
        other = [r.run_id for r in rows if r.run_id != current and r.dataset == by_id[current].dataset]
        if other:
            return [current, other[0]]
    picks = [_default_of(of_mode) for mode in ("learnable", "static")
             if (of_mode := [r for r in rows if r.mode == mode and r.dataset == "digits"])]
    return picks if len(picks) == 2 else [r.run_id for r in rows[:2]]


def gap_pickers(rows: list[RunSummary]) -> tuple[list[str], int]:
    """The dataset, one run per mode on it (shipped ones first), and the accuracy to reach."""
    ss = st.session_state
    datasets = sorted({r.dataset for r in rows}) or ["digits"]
    if ss.get("gap_dataset") not in datasets:
        ss["gap_dataset"] = "digits" if "digits" in datasets else datasets[0]
    c = st.columns([1, 1.6, 1.6, 1.6, 1.3], vertical_alignment="bottom")
    dataset = c[0].selectbox("Dataset", datasets, key="gap_dataset", persist_state="session")
    picks = []
    for col, mode in zip(c[1:4], GAP_MODES, strict=True):
        options = {r.run_id: r for r in rows if r.dataset == dataset and r.mode == mode}
        key = GAP_KEYS[mode]
        if not options:
            col.selectbox(MODE_NAMES[mode], ["no run yet"], key=f"{key}_none", disabled=True)
            continue
        if ss.get(key) not in options:
            ss[key] = _default_of(list(options.values()))
        picks.append(col.selectbox(MODE_NAMES[mode], list(options), key=key, persist_state="session",
                                   format_func=lambda r, o=options: f"{o[r].name} · {o[r].source}"))
    ss.setdefault("gap_threshold", 95)
    threshold = c[4].slider("Accuracy to reach (%)", 50, 99, key="gap_threshold", persist_state="session",
                            help="For the chart of epochs needed to reach it (α-weighted vote, validation).")
    return picks, int(threshold)
