"""The Runs page's doors to other tools: a run's TensorBoard event folder as a download, and a folder of the
authors' own training logs (their CAW-Conv ResNet scripts) imported as a run. Both run in worker processes
(ffviz/interop/workers.py): the server imports neither torch nor tensorboard.

    interop_ui.tensorboard_button(row)    # beside the run's other downloads
    interop_ui.logs_box()                 # the uploader, the dataset and the Import button
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from ffviz.data import dataset_names
from ffviz.interop.workers import import_logs_in_process, logs_files_problem, tensorboard_zip_to
from ffviz.store import places
from ffviz.store.catalog import RunSummary
from ffviz.store.folder import RunFolder
from ffviz.store.runs import update_meta
from pages.common.frame import classroom, state
from pages.common.frame.keys import RUNS_MSG_KEY as MSG_KEY
from pages.common.frame.keys import RUNS_PICK_KEY as PICK_KEY
from pages.common.runs import downloads_ui
from pages.common.server import access_ui

UNKNOWN = "unknown (from the folder's name, if it says)"


def tensorboard_button(row: RunSummary, history: bool) -> None:
    folder = RunFolder(row.dir)
    owner = access_ui.identity().token
    downloads_ui.file_button(
        "TensorBoard (.zip)", key="runs_dl_tb", name=f"{row.run_id}-tensorboard.zip", icon=":material/monitoring:",
        disabled=not history,
        build_key=downloads_ui.files_key("tensorboard", row.dir, [folder.meta, folder.test, folder.log("epochs")]),
        build=lambda path: tensorboard_zip_to(row.dir, path, owner=owner),
        help="The run as TensorBoard event files (scalars per epoch, each layer's W as an image and a histogram): "
             "unzip and run `tensorboard --logdir .`; W&B and Aim read them too. Built by a worker process.")


def logs_box() -> None:
    off = classroom.current().classroom
    st.file_uploader("The files the authors' CAW-Conv ResNet script wrote during training", accept_multiple_files=True,
                     type=["csv", "txt"], key="logs_files", disabled=off, max_upload_size=64, on_change=_bound_files,
                     help="Choose them all at once: info_17L.csv, layer_losses_17L.csv and "
                          "all_epochs_layer_weights.txt, with ortho_metrics_17L.csv, accuracy.csv and layer_acc.csv "
                          "when you have them.")
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    c1.selectbox("It trained on", [UNKNOWN, *dataset_names()], key="logs_dataset", disabled=off,
                 help="Their logs do not say; the class names come from it.")
    c2.button("Open as a run", icon=":material/upload:", key="logs_import", on_click=_import, disabled=off)
    st.caption("It opens as a finished run: the curves their logs hold on the Train and Layer contributions pages, "
               "and each layer's W at the epochs their weights file holds (every 10th) on Assignments.")


def _bound_files() -> None:
    """The uploader's limits, on the server: the browser's own (max_upload_size) is the browser's to keep. Beyond
    them every file is dropped from the server's memory at once, with a message saying what to upload instead."""
    _refused(_uploaded(), "taken")


def _refused(files: list, what: str) -> bool:
    """True, with the files dropped and a message saying why, when they are beyond the uploader's limits."""
    why = logs_files_problem([(f.name, f.size) for f in files])
    if why:
        _drop(files)
        st.session_state[MSG_KEY] = ("error", f"The logs were not {what}: {why}")
    return bool(why)


def _uploaded() -> list:
    """The uploader's files still held (a file dropped by _drop reads back as a DeletedFile, without a name)."""
    return [f for f in st.session_state.get("logs_files") or [] if hasattr(f, "name") and hasattr(f, "size")]


def _drop(files: list) -> None:
    """Free the uploaded files' bytes now (Streamlit keeps them for the session otherwise)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    for f in files:
        try:
            ctx.uploaded_file_mgr.remove_file(ctx.session_id, f.file_id)
        except (AttributeError, KeyError):
            continue


def _import() -> None:
    ss = st.session_state
    uploaded = _uploaded()
    if _refused(uploaded, "imported"):
        return
    files = {f.name: f.getvalue() for f in uploaded}
    dataset = ss.get("logs_dataset")
    with st.spinner("Reading the logs…"):
        run_dir, why = import_logs_in_process(files, places.uploaded_root(), owner=access_ui.identity().token,
                                              dataset=None if dataset in (None, UNKNOWN) else dataset)
    del files
    _drop(uploaded)  # read once: the server need not keep them
    if run_dir is None:
        ss[MSG_KEY] = ("error", f"The logs were not imported: {why}")
        return
    # as any upload: the uploader owns it, and retention ages it by the server's time of receipt
    update_meta(run_dir, **access_ui.upload_meta(), uploaded=dt.datetime.now().isoformat(timespec="seconds"))
    state.keep_bounded(run_dir.parent)
    if why := access_ui.refuse_upload(run_dir):
        ss[MSG_KEY] = ("error", why)
        return
    ss[PICK_KEY] = run_dir.name
    ss[MSG_KEY] = ("success", f"Imported the authors' logs: they are in the table as {run_dir.name}. Open it to see "
                              "its curves and W.")


def provenance(row: RunSummary) -> None:
    """For a run imported from the authors' logs: which of its settings their files gave, which are unknown."""
    from ffviz.interop.authors_logs import meta_sources
    from ffviz.store.runs import open_reader

    reader = open_reader(row.dir)
    src = meta_sources(reader.meta)
    if not src:
        return
    meta, cfg = reader.meta, reader.config.to_dict()
    with st.expander("Imported from the authors' training logs: where its settings come from"):
        st.text(str(meta.get("note", ""))[:2000])  # an upload's own words: plain text, never Markdown (links, images)
        st.table([{"setting": k, "value": str(cfg.get(k, "")), "source": v} for k, v in src.items()])
