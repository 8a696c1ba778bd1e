"""Compare: two or more runs on the same axes (the vote's validation accuracy, the training loss, each layer at
the last epoch), and the settings in which they differ, and only those."""

import pandas as pd
import streamlit as st

from ffviz.comparison import config_diff_rows
from ffviz.figures.compare import accuracy_overlay_figure, final_layer_accuracy_figure, loss_overlay_figure
from ffviz.figures.seeds import seed_bar_figure
from ffviz.seed_groups import group_by_seed, vote_on_test
from pages.common.frame import state
from pages.common.frame.keys import COMPARE_RUNS_KEY
from pages.common.frame.widgets import explain, plot
from pages.common.runs import run_pickers, runs_table

state.require_frame()
st.title("Compare runs", anchor=False)
explain("Runs side by side on the same axes: trained here, with the command line, uploaded or shipped, on any data. "
        "Below the charts, the settings in which they differ, and only those.")
rows = {r.run_id: r for r in runs_table.all_rows() if r.epochs_done > 0}
ss = st.session_state
if COMPARE_RUNS_KEY not in ss:
    ss[COMPARE_RUNS_KEY] = run_pickers.default_compare(list(rows.values()))
ss[COMPARE_RUNS_KEY] = [r for r in ss[COMPARE_RUNS_KEY] if r in rows]  # a run deleted since
picked = st.multiselect("Runs to compare", list(rows), key=COMPARE_RUNS_KEY, max_selections=8, persist_state="session",
                        format_func=lambda r: runs_table.label(rows[r]), placeholder="Pick two or more runs",
                        help="Up to eight runs that recorded at least one epoch.")
if len(picked) < 2:
    st.info("Pick two or more runs to see them on the same axes.", icon=":material/compare_arrows:")
    st.stop()
runs = run_pickers.compared(picked)
left, right = st.columns(2, gap="medium")
with left:
    plot(accuracy_overlay_figure(runs))
    explain("The α-weighted vote of all layers on the validation split, epoch by epoch; a star is the same vote "
            "on the test split once a run has finished.")
with right:
    plot(loss_overlay_figure(runs))
    explain("The loss each run minimised, summed over its layers (regularizers included), on a log scale.")
groups = group_by_seed(runs)
if len(groups) < len(runs):  # some picked runs differ only by their seed: read them as one, with their spread
    plot(seed_bar_figure(groups, vote_on_test, title="Test accuracy, runs that differ only by seed as one bar",
                         height=360))
    explain("Runs with the same settings but the seed are one bar: its height the mean of their test accuracy, its "
            "whisker one standard deviation, each seed a dot.")
left, right = st.columns(2, gap="medium")
with left:
    plot(final_layer_accuracy_figure(runs))
    explain("Each layer guessing on its own at the run's last epoch. Forward-Forward layers each learn to "
            "classify; a backprop network only trains its last layer to.")
with right:
    st.markdown("**Settings that differ**")
    diff = config_diff_rows(runs)
    if diff:
        st.dataframe(pd.DataFrame(diff), hide_index=True, key="cmp_diff")
    else:
        st.info("These runs have the same settings, seed included.", icon=":material/check:")
    st.markdown("**Where they ended**")
    table = pd.DataFrame([rows[r].as_row() for r in picked])
    table = table[["name", "mode", "epochs", "test acc %", "best val acc %", "wall time s"]].set_index("name")
    st.table(table.style.format(precision=1, na_rep="–"))
