"""The gap: the lineage side by side on the same data, original FF, the static partition, the learnable assignment
and backprop, each a group of seeds (one bar at the mean, its spread, every seed a dot), beside the published
figures, labelled as published; then each layer's accuracy, how many epochs each needs, seconds per epoch."""

import pandas as pd
import streamlit as st

from ffviz import modes
from ffviz.comparison import config_diff_rows, epochs_to_reach, seconds_per_epoch
from ffviz.figures.compare import gap_ensemble_figure
from ffviz.figures.seeds import published_figure, seed_bar_figure, seed_layer_figure
from ffviz.seed_groups import (
    NOT_THE_SHAPE,
    PUBLISHED_BACKPROP_NOTE,
    gap_sentence,
    group_by_seed,
    group_rows,
    vote_on_test,
)
from pages.common.frame import state
from pages.common.frame.widgets import explain, plot
from pages.common.runs import run_pickers, runs_table

state.require_frame()
st.title("The gap: original FF, static, learnable, backprop", anchor=False)
explain("The lineage on the same data, in order: Hinton's original Forward-Forward (the label in the input, positive "
        "and negative data); Forward-Forward CNNs with a fixed split of the channels among the classes (CwComp, "
        "DeeperForward); the learned channel–class assignment (CAW-Conv, this method); and ordinary backprop. Runs "
        "that differ only by their seed are one bar: its height the mean, its whisker one standard deviation, each "
        "seed a dot.")
rows = [r for r in runs_table.all_rows() if r.epochs_done > 0]
picks, threshold = run_pickers.gap_pickers(rows)
if not picks:
    st.info("No finished runs on this dataset yet.", icon=":material/info:")
    st.stop()
runs = run_pickers.compared(picks)
groups = group_by_seed(runs)
st.markdown(f"**What these runs show.** {gap_sentence(groups)}")
left, right = st.columns([1.2, 1], gap="medium")
with left:
    plot(seed_bar_figure(groups, vote_on_test, title="Measured here: test accuracy of the whole network"))
    explain("The network's prediction on the test split at each run's last epoch: the α-weighted vote of its layers "
            "(original FF: the label whose summed goodness over the layers is highest, Hinton's evaluation).")
with right:
    plot(published_figure())
    explain("Published figures, not measured here, from much larger work: CIFAR-10, 50,000 colour images. "
            + PUBLISHED_BACKPROP_NOTE)
plot(seed_layer_figure(groups))
explain("Every Forward-Forward layer is a classifier of its own, so each bar is that layer guessing alone. "
        "Backprop trains only its last layer to classify: its earlier layers sit at chance. Original FF here is a "
        "two-layer MLP, so it has two bars.")
cols = st.columns([1.4, 1, 1], gap="medium")
firsts = [g.runs[0] for g in groups]
with cols[0]:
    plot(gap_ensemble_figure(firsts))
    explain("The whole network read four ways, for the first seed of each: the α-weighted vote, the plain sum of "
            "all layers, the last layer, and the layer that was best on validation.")
with cols[1]:
    plot(seed_bar_figure(groups, lambda r: epochs_to_reach(r.epochs, threshold), title=f"Epochs to reach "
                         f"{threshold}%", ytitle="epochs (validation vote)", height=360, zoom=False, labels=False))
    explain(f"The first epoch at which the vote reached {threshold}% on the validation split, mean over the seeds "
            "that reached it (the table says how many never did).")
with cols[2]:
    plot(seed_bar_figure(groups, lambda r: seconds_per_epoch(r.epochs), title="Seconds per epoch", ytitle="seconds",
                         height=360, zoom=False, labels=False))
    explain("Wall-clock seconds per epoch, evaluation included, on the device each run used.")
st.dataframe(pd.DataFrame(group_rows(groups, threshold, lambda r: epochs_to_reach(r.epochs, threshold),
                                     lambda r: seconds_per_epoch(r.epochs))), hide_index=True, key="gap_table")
other = [r["setting"] for r in config_diff_rows(firsts) if r["setting"] not in ("mode", *NOT_THE_SHAPE)]
missing = [modes.label(m) for m in modes.lineage() if m not in {g.mode for g in groups}]
if missing:
    st.caption(f"No {' or '.join(missing)} run on this dataset yet: train one on the Train page (setting Mode).")
if other:
    st.caption(f"Besides the mode, these runs also differ in: {', '.join(other)}.")
