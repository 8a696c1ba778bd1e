"""The Runs page's import of a checkpoint from the authors' CAW-Conv ResNet scripts: their state_dict, evaluated on a
dataset this server has, becomes a run in the uploads folder (ffviz/interop/authors_checkpoint.py does the checking
and the maths).

    authors_ui.import_box()      # the uploader, the dataset and the Import button; the import runs in its callback
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import streamlit as st

from ffviz.data import dataset_names
from ffviz.data.registry import server_data_root
from ffviz.server.upload_process import BASE_BUDGET, STAGE, run_worker, temp_copy_dir
from ffviz.store import places
from ffviz.store.archive import MAX_UPLOAD_BYTES
from ffviz.store.runs import update_meta
from pages.common.frame import classroom, state
from pages.common.frame.keys import RUNS_MSG_KEY as MSG_KEY
from pages.common.frame.keys import RUNS_PICK_KEY as PICK_KEY
from pages.common.server import access_ui


def import_box() -> None:
    off = classroom.current().classroom
    mb = MAX_UPLOAD_BYTES // 1024 // 1024
    st.file_uploader("A state_dict saved by the authors' CAW-Conv ResNet scripts (.pth, .pt)", type=["pth", "pt"],
                     key="authors_file", max_upload_size=mb, disabled=off,
                     help="The model's state_dict, or their checkpoint dict that holds it under model_state_dict. "
                          "Loaded weights-only; every key and shape is checked first.")
    c1, c2, c3 = st.columns([1.2, 1, 1], vertical_alignment="bottom")
    c1.selectbox("Evaluate it on", dataset_names(), key="authors_dataset", disabled=off,
                 help="The dataset it was trained on (its input channels and classes must match).")
    c2.number_input("Epochs it trained (0: from the file)", 0, 10_000, 0, key="authors_epochs", disabled=off,
                    help="Sets the temperature decay 0.995^(epochs − 1), which the state_dict does not store.")
    c3.button("Import", icon=":material/upload:", key="authors_import", on_click=_import, disabled=off)
    st.caption("It opens as a finished run with one epoch: every layer's W, each layer's goodness and accuracy, and "
               "the layer contributions α from the validation loss.")


def _import() -> None:
    ss = st.session_state
    f = ss.get("authors_file")
    if f is None:
        ss[MSG_KEY] = ("error", "Choose the .pth file first, then press Import.")
        return
    epochs = int(ss.get("authors_epochs") or 0) or None
    with st.spinner(f"Evaluating {f.name} on {ss['authors_dataset']}…"):
        run_dir, error = _import_in_process(f.getvalue(), f.name, ss["authors_dataset"], epochs)
    if run_dir is None:
        ss[MSG_KEY] = ("error", f"{f.name} was not imported: {error}")
        return
    # as any upload: the uploader owns it, and retention ages it by the server's time of receipt
    update_meta(run_dir, **access_ui.upload_meta(),
                uploaded=dt.datetime.now().isoformat(timespec="seconds"))
    state.keep_bounded(run_dir.parent)
    if why := access_ui.refuse_upload(run_dir):
        ss[MSG_KEY] = ("error", why)
        return
    ss[PICK_KEY] = run_dir.name
    ss[MSG_KEY] = ("success", f"Imported {f.name}: it is in the table as {run_dir.name}. Open it to see its W.")


def _import_in_process(data: bytes, filename: str, dataset: str, epochs: int | None) -> tuple[Path | None, str]:
    """``python -m ffviz import`` in a process of its own (the server imports no torch, and what a file costs is that
    process's): (the new run folder, "") or (None, why not)."""
    with temp_copy_dir(places.uploaded_root()) as tmp:
        src = Path(tmp) / (re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).name)[-80:] or "upload.pth")
        src.write_bytes(data)
        cmd = [sys.executable, "-m", "ffviz", "import", str(src), "--dataset", dataset,
               "--runs-dir", STAGE]  # its own staging folder: a failure removes only that
        if epochs:
            cmd += ["--trained-epochs", str(epochs)]
        if root := server_data_root():
            cmd += ["--data-root", root]
        # niced and capped like an upload's worker (torch loaded first, then the cap), with room for the dataset it
        # evaluates on, within the server's limit
        answer, why = run_worker(cmd, places.uploaded_root(), cwd=tmp, torch_first=True,
                                 owner=access_ui.identity().token,
                                 address_space=BASE_BUDGET + 2 * access_ui.limits().max_dataset_bytes)
    return (Path(answer["run"]), "") if answer and "run" in answer else (None, why)
