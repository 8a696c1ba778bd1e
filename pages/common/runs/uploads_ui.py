"""Uploads on the Runs page: a run folder's zip in, checked in a process of its own; the retention note; the
message a finished action leaves for the next rerun."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ffviz.runner.launcher import max_running_setting
from ffviz.server.upload_process import import_in_process
from ffviz.store import places
from ffviz.store.archive import MAX_UPLOAD_BYTES, UploadError
from ffviz.store.retention import retention_limit
from ffviz.store.runs import update_meta
from pages.common.frame import classroom, state
from pages.common.frame.keys import RUNS_MSG_KEY as MSG_KEY
from pages.common.frame.keys import RUNS_PICK_KEY as PICK_KEY
from pages.common.frame.text import plain
from pages.common.server import access_ui


# ----------------------------------------------------------------------------------------------------- uploads
def store_upload(data: bytes, filename: str) -> Path:
    """An uploaded archive or checkpoint, checked, as a run folder under runs/uploaded owned by this session (raises
    UploadError), within the server's limits on what one upload may unpack to."""
    bound = access_ui.limits()
    # checked in a process of its own: the server imports no torch, and a hostile file costs it nothing
    return import_in_process(data, places.uploaded_root(), filename=filename, owner=access_ui.identity().token,
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
    update_meta(run_dir, **access_ui.upload_meta())  # the key the per-address uploads bound counts it under
    state.keep_bounded(run_dir.parent)
    if why := access_ui.refuse_upload(run_dir):
        ss[MSG_KEY] = ("error", why)
        return
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
    st.caption(f"This server keeps the newest {limit} runs trained here and the newest {limit} uploads of each "
               "session; when you start a run or upload one, your older ones beyond that are deleted (never a run "
               "that is training, never anyone else's, never the runs that ship with ffviz). Download a run to keep "
               "it.")
    running, problem = max_running_setting()
    if problem:
        st.warning(problem, icon=":material/warning:")
    spares = state.manager().warm
    st.caption(f"Each run trains in its own process. At most {running} train at once on this server "
               f"(FFVIZ_MAX_RUNNING; the default follows this machine's CPU cores and GPUs); others wait in a "
               f"queue, first come first, ahead of sweeps' runs. {spares.size} spare run process(es) wait with "
               f"PyTorch loaded ({spares.ready()} ready now), so that a Start trains at once; each serves one run "
               f"(FFVIZ_WARM_SPARES, 0 turns them off).")
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
