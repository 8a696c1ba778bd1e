"""The gap: a learnable-assignment run, a static-partition run and a backprop run on the same data, side by side:
each layer's accuracy, the whole network's, how many epochs each needs to reach an accuracy, seconds per epoch."""

import pandas as pd
import streamlit as st

from ffviz.comparison import GAP_MODES, MODE_NAMES, config_diff_rows, gap_rows
from ffviz.figures.compare import (
    epochs_to_reach_figure,
    gap_ensemble_figure,
    gap_layer_accuracy_figure,
    seconds_per_epoch_figure,
)
from pages.common.frame import state
from pages.common.frame.widgets import explain, plot
from pages.common.runs import run_pickers, runs_table

state.require_frame()
st.title("The gap: learnable, static, backprop", anchor=False)
explain("The same network trained three ways on the same data: Forward-Forward with a learnable channel–class "
        "assignment (this method), Forward-Forward with a fixed split of the channels among the classes (the "
        "method it improves on), and ordinary backpropagation.")
rows = [r for r in runs_table.all_rows() if r.epochs_done > 0]
picks, threshold = run_pickers.gap_pickers(rows)
if not picks:
    st.info("No finished runs on this dataset yet.", icon=":material/info:")
    st.stop()
runs = run_pickers.compared(picks)
plot(gap_layer_accuracy_figure(runs))
explain("Every Forward-Forward layer is a classifier of its own, so each bar is that layer guessing alone. "
        "Backprop trains only its last layer to classify: its earlier layers sit at chance.")
cols = st.columns([1.4, 1, 1], gap="medium")
with cols[0]:
    plot(gap_ensemble_figure(runs))
    explain("The whole network, read four ways: the α-weighted vote, the plain sum of all layers, the last "
            "layer, and the layer that was best on validation.")
with cols[1]:
    plot(epochs_to_reach_figure(runs, threshold))
    explain(f"The first epoch at which the α-weighted vote reached {threshold}% on the validation split. Hatched: "
            "never reached.")
with cols[2]:
    plot(seconds_per_epoch_figure(runs))
    explain("Wall-clock seconds per epoch, evaluation included, on the device each run used.")
st.dataframe(pd.DataFrame(gap_rows(runs, threshold)), hide_index=True, key="gap_table")
other = [r["setting"] for r in config_diff_rows(runs) if r["setting"] != "mode"]
missing = [MODE_NAMES[m] for m in GAP_MODES if m not in {r.mode for r in runs}]
if missing:
    st.caption(f"No {' or '.join(missing)} run on this dataset yet: train one on the Train page (setting Mode).")
if other:
    st.caption(f"Besides the mode, these runs also differ in: {', '.join(other)}.")
