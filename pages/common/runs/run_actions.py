"""What can be done with one run on the Runs page: open it, download it, continue it, delete it."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import streamlit as st

from ffviz.server import access
from ffviz.server.downloads import link_or_copy
from ffviz.store import places
from ffviz.store.archive import delete_run, export_archive_to
from ffviz.store.catalog import RunSummary, history_csv
from ffviz.store.folder import ACTIVE, CONTINUABLE, RunFolder
from ffviz.store.notes import MAX_NOTE, MAX_TITLE, RunNotes, read_notes, write_notes
from ffviz.store.runs import new_run_dir, open_reader, update_meta
from pages.common.frame import classroom, state
from pages.common.frame.keys import RUNS_MSG_KEY as MSG_KEY
from pages.common.frame.text import plain
from pages.common.frame.widgets import STATUS_COLORS
from pages.common.runs import downloads_ui, interop_ui
from pages.common.server import access_ui
from pages.common.train import settings


# ----------------------------------------------------------------------------------------------------- one run
def _checkpoint(run_dir: Path) -> Path | None:
    return next(iter(RunFolder(run_dir).existing_checkpoints(("final", "last"))), None)


def _has_history(run_dir: Path) -> bool:
    path = RunFolder(run_dir).log("epochs")
    return path.exists() and path.stat().st_size > 0


def actions(row: RunSummary) -> None:
    """What can be done with the picked run: open it, download it, continue it, delete it."""
    with st.container(border=True):
        notes = read_notes(row.dir)
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.markdown(f"#### {plain(notes.title or row.name)}")
            st.badge(row.status, color=STATUS_COLORS.get(row.status, "gray"))
            st.badge(row.source, color="violet" if row.source == "shipped" else "gray")
        test = "–" if row.test_acc is None else f"{row.test_acc:.1f}%"
        st.caption(f"{plain(row.run_id)} · {row.dataset} · {row.preset} · {row.mode} · epoch {row.epochs_done}/"
                   f"{row.epochs} · test accuracy {test} · {row.device or 'device unknown'}")
        if notes.note:
            st.caption(f":material/sticky_note_2: {plain(notes.note)}")
        if row.error:
            st.error(f"This run failed: {plain(row.error)}", icon=":material/error:")
        _notes_editor(row, notes)
        interop_ui.provenance(row)
        history = _has_history(row.dir)
        with st.container(horizontal=True, gap="small"):
            st.button("Open", icon=":material/visibility:", type="primary", key="runs_open", on_click=_open,
                      args=(row.run_id,), disabled=not history or classroom.locked("run_picker"),
                      help="Show this run on every page (Assignments, Regularizers, Goodness, Layer contributions)."
                      if history else "This run has no history to show (a bare checkpoint): continue it first.")
            _downloads(row, history)
        _continue_block(row)
        _delete_block(row)


def _notes_editor(row: RunSummary, notes: RunNotes) -> None:
    """A title and a note for the run, by its owner or the teacher (plain text: shown as typed, never as Markdown)."""
    if row.source == "shipped" or access.why_not(access_ui.identity(), {"owner": row.owner}) is not None:
        return
    with st.expander("Title and note", icon=":material/edit_note:", key=f"runs_notes_{row.run_id}"):
        st.text_input("Title", value=notes.title, max_chars=MAX_TITLE, key=f"runs_title_{row.run_id}",
                      placeholder="e.g. demo for period 3")
        st.text_area("Note", value=notes.note, max_chars=MAX_NOTE, key=f"runs_note_{row.run_id}", height=90)
        st.button("Save title and note", icon=":material/save:", key=f"runs_notes_save_{row.run_id}",
                  on_click=_save_notes, args=(row,))


def _save_notes(row: RunSummary) -> None:
    if not access_ui.guard({"owner": row.owner}, "rename this run"):
        return
    ss = st.session_state
    try:
        write_notes(row.dir, title=ss.get(f"runs_title_{row.run_id}", ""), note=ss.get(f"runs_note_{row.run_id}", ""))
    except (ValueError, OSError) as e:
        ss[MSG_KEY] = ("error", f"Not saved: {e}")
        return
    ss[MSG_KEY] = ("success", "Saved the run's title and note.")


def _open(run_id: str) -> None:
    settings.open_run(run_id)
    state.go_to("pages/assignments.py")


def _downloads(row: RunSummary, history: bool) -> None:
    run_dir, ck = row.dir, _checkpoint(row.dir)
    folder = RunFolder(run_dir)
    downloads_ui.file_button(
        "Run archive (.zip)", key="runs_dl_zip", name=f"{row.run_id}.zip", icon=":material/folder_zip:",
        build_key=downloads_ui.files_key("archive", run_dir, [folder.config, folder.meta, folder.test,
                                                             folder.log("epochs"), *folder.existing_checkpoints()]),
        build=lambda path: export_archive_to(run_dir, path),
        help="The whole run folder (records, snapshots, final checkpoint): upload it to any ffviz.")
    downloads_ui.file_button(
        "Checkpoint (.pt)", key="runs_dl_ckpt", name=f"{row.run_id}-{ck.name if ck else 'none.pt'}",
        icon=":material/download:", disabled=ck is None,
        build_key=downloads_ui.files_key("checkpoint", run_dir, [ck] if ck else []),
        build=lambda path: link_or_copy(ck, path),
        help="The weights with their config; load with ffviz.store.checkpoint.load_checkpoint."
        if ck else "This run has no checkpoint (it never finished an epoch).")
    downloads_ui.file_button(
        "History (.csv)", key="runs_dl_csv", name=f"{row.run_id}-history.csv", icon=":material/table:",
        disabled=not history, build_key=downloads_ui.files_key("history", run_dir, [folder.log("epochs")]),
        build=lambda path: path.write_text(history_csv(open_reader(run_dir))),
        help="One row per epoch, one column per metric and layer.")
    interop_ui.tensorboard_button(row, history)


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
    """A copy of a shipped run in the runs folder, to continue (shipped runs are never written to), owned by this
    session: it may stop it, and the copy counts towards its limits and its retention, as any run it starts."""
    reader = open_reader(run_dir)
    cfg, name = reader.config, reader.meta.get("name") or run_dir.name
    dest = new_run_dir(places.runs_root(), cfg, f"{name} continued")
    shutil.copytree(run_dir, dest, dirs_exist_ok=True)
    update_meta(dest, name=f"{name} (continued)", created=dt.datetime.now().isoformat(timespec="seconds"),
                continued_from=run_dir.name, pid=None, **access_ui.run_meta())
    return dest


def continue_run(row: RunSummary, more: int) -> str | None:
    """Queue row's run for ``more`` epochs beyond where it stopped (a shipped run: its copy). Returns the run id, or
    None when this session may not (not its run, or beyond the server's limits: the message is kept to show)."""
    shipped = places.is_shipped(row.dir)
    if not shipped and not access_ui.guard({"owner": row.owner}, "continue this run"):
        return None
    cfg = open_reader(row.dir).config.replace(epochs=row.epochs_done + more)
    if not access_ui.check_submit(cfg, state.manager().active(), new_run=shipped):
        return None
    run_dir = copy_shipped(row.dir) if shipped else row.dir
    # the run keeps its owner; its disk bound and client address are this server's now
    run_id = state.manager().submit_continue(run_dir, epochs=row.epochs_done + more, meta=access_ui.run_meta())
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
    state.go_to("pages/train.py")


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
        delete_run(row.dir, protected_roots=[places.shipped_root()])
    except (PermissionError, FileNotFoundError, OSError) as e:
        ss[MSG_KEY] = ("error", str(e))
        return
    if state.current_run_id() == row.run_id:
        state.set_current_run(None)
    ss[MSG_KEY] = ("success", f"Deleted {row.name}.")
