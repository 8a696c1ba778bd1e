"""Runs: every run the app knows (shipped with ffviz, trained here or by the CLI, uploaded) in one table, sorted and
filtered; the picked run can be opened on every view page, downloaded, continued for more epochs or deleted."""

import streamlit as st

from pages.common.frame import state
from pages.common.frame.widgets import explain
from pages.common.runs import authors_ui, interop_ui, run_actions, runs_table, uploads_ui
from pages.common.server import access_ui

state.require_frame()
state.go_to_if_asked()  # Open or Continue asked for another page
uploads_ui.take_upload()  # before the picker: a new upload becomes the picked run

st.title("Runs", anchor=False)
explain("Every run this app can show: the ones that ship with ffviz, the ones trained here or with the command "
        "line, and uploads. Click a row (or pick it below) to open it on every page, download it, train it for "
        "more epochs or delete it.")
uploads_ui.message()
access_ui.show_denied()  # a refused continue or delete: not this session's run, or beyond a limit
rows = runs_table.all_rows()
if not rows:
    st.info("No runs yet. Train one on the **Train** page, or upload one below.", icon=":material/info:")
shown = runs_table.filters(rows)
if shown:
    runs_table.table(shown)
st.caption(f"{len(shown)} of {len(rows)} runs · test accuracy is the α-weighted vote on the test split at the last "
           "epoch; best val is the best α-weighted validation accuracy over the epochs.")
uploads_ui.retention_note()
row = runs_table.pick(shown)
if row is not None:
    run_actions.actions(row)

st.subheader("Upload a run", anchor=False)
uploads_ui.upload_box()

st.subheader("Import a checkpoint from the authors' code", anchor=False)
authors_ui.import_box()

st.subheader("Import the authors' training logs", anchor=False)
interop_ui.logs_box()
