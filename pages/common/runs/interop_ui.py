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
from ffviz.interop.workers import WorkerError, import_logs_in_process, tensorboard_zip
from ffviz.store import places
from ffviz.store.catalog import RunSummary
from ffviz.store.runs import update_meta
from pages.common.frame import classroom, state
from pages.common.frame.keys import RUNS_MSG_KEY as MSG_KEY
from pages.common.frame.keys import RUNS_PICK_KEY as PICK_KEY
from pages.common.server import access_ui

UNKNOWN = "unknown (from the folder's name, if it says)"


def tensorboard_button(row: RunSummary, history: bool) -> None:
    st.download_button("TensorBoard (.zip)", data=lambda: _tensorboard(row), file_name=f"{row.run_id}-tensorboard.zip",
                       mime="application/zip", icon=":material/monitoring:", key="runs_dl_tb", on_click="ignore",
                       disabled=not history,
                       help="The run as TensorBoard event files (scalars per epoch, each layer's W as an image and a "
                            "histogram): unzip and run `tensorboard --logdir .`; W&B and Aim read them too.")


def _tensorboard(row: RunSummary) -> bytes:
    try:
        return tensorboard_zip(row.dir)
    except WorkerError as e:
        st.session_state[MSG_KEY] = ("error", f"Could not export {row.name} for TensorBoard: {e}")
        return b""


def logs_box() -> None:
    off = classroom.current().classroom
    st.file_uploader("The files the authors' CAW-Conv ResNet script wrote during training", accept_multiple_files=True,
                     type=["csv", "txt"], key="logs_files", disabled=off, max_upload_size=64,
                     help="Choose them all at once: info_17L.csv, layer_losses_17L.csv and "
                          "all_epochs_layer_weights.txt, with ortho_metrics_17L.csv, accuracy.csv and layer_acc.csv "
                          "when you have them.")
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    c1.selectbox("It trained on", [UNKNOWN, *dataset_names()], key="logs_dataset", disabled=off,
                 help="Their logs do not say; the class names come from it.")
    c2.button("Open as a run", icon=":material/upload:", key="logs_import", on_click=_import, disabled=off)
    st.caption("It opens as a finished run: the curves their logs hold on the Train and Layer contributions pages, "
               "and each layer's W at the epochs their weights file holds (every 10th) on Assignments.")


def _import() -> None:
    ss = st.session_state
    files = {f.name: f.getvalue() for f in ss.get("logs_files") or []}
    dataset = ss.get("logs_dataset")
    with st.spinner("Reading the logs…"):
        run_dir, why = import_logs_in_process(files, places.uploaded_root(),
                                              dataset=None if dataset in (None, UNKNOWN) else dataset)
    if run_dir is None:
        ss[MSG_KEY] = ("error", f"The logs were not imported: {why}")
        return
    # as any upload: the uploader owns it, and retention ages it by the server's time of receipt
    update_meta(run_dir, owner=access_ui.identity().token, uploaded=dt.datetime.now().isoformat(timespec="seconds"))
    state.keep_bounded(run_dir.parent)
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
        st.caption(str(meta.get("note", "")))
        st.table([{"setting": k, "value": str(cfg.get(k, "")), "source": v} for k, v in src.items()])
