"""Assignments: the W matrix (channels × classes) of one layer at one epoch, beside how the assignments sharpen over
training (per layer: how decided the channels are, channels per class, temperature). Click a channel to follow its
class weights over time."""

import streamlit as st

from ffviz.figures import (
    assignment_heatmap,
    assignment_panel_figure,
    channel_history_figure,
    channel_order,
    color_cap,
)
from ffviz.figures.animation import assignment_gif
from ffviz.figures.assignments import heatmap_height
from ffviz.store.runs import RunReader
from pages.common.frame.keys import epoch_key, layer_key
from pages.common.frame.widgets import epoch_scrubber, explain, has_no_assignment, layer_select, plot, view_page

EPOCH_KEY = epoch_key("assignments")  # the epoch scrubber, whose Play toggle times the view (a link's epoch=)
LAYER_KEY = layer_key("assignments")  # a link's layer=


def pick_channel(key: str) -> None:
    points = st.session_state[key].selection.get("points", [])
    if points and "customdata" in points[0]:
        st.session_state["asg_channel"] = int(points[0]["customdata"])


def view(lr: RunReader, run_state: str, names: list[str]) -> None:
    if has_no_assignment(lr, "Assignments"):
        return
    widths = [w.shape[0] for w in lr.snapshot(lr.epochs[0].epoch).w]
    c1, c2, c3 = st.columns([1, 1, 2.2], vertical_alignment="bottom")
    with c1:
        layer = layer_select(len(widths), key=LAYER_KEY, widths=widths)
    with c2:
        order_by = st.selectbox("Order channels by", ["this epoch", "last epoch", "channel number"], key="asg_order",
                                help="Rows sorted by each channel's strongest class, at the shown or the last epoch.")
    with c3:
        epoch = epoch_scrubber(lr, run_state, key=EPOCH_KEY)
    w, w_last = lr.snapshot(epoch).w[layer], lr.snapshot(lr.epochs[-1].epoch).w[layer]
    order = {"this epoch": None, "last epoch": channel_order(w_last), "channel number": list(range(w.shape[0]))}
    if (st.session_state.get("asg_channel") or 0) >= w.shape[0]:
        st.session_state["asg_channel"] = None
    channel = st.session_state.get("asg_channel")
    left, right = st.columns([1.2, 1], gap="medium")
    with left:
        key = f"asg_heat_{layer}"
        plot(assignment_heatmap(w, names, order=order[order_by], layer=layer, epoch=epoch, selected=channel,
                                zmax=color_cap(w_last)),
             key=key, on_select=lambda: pick_channel(key), selection_mode="points")
        explain("Each row is a channel, each column a class; a dark cell means the channel votes for that class. "
                "At epoch 0 every row is the same pale 1/K. Scrub or press Play: rows turn into single dark cells "
                "as channels pick a class. Click a row to follow that channel below. (The colour scale tops out at "
                "the layer's largest weight at the last epoch.)")
        st.download_button("W of this layer over training (.gif)", icon=":material/animated_images:",
                           data=lambda: assignment_gif(lr.w_history(layer), names, layer=layer), mime="image/gif",
                           file_name=f"{lr.run_id}-W-layer{layer}.gif", key="asg_gif", on_click="ignore",
                           help="An animated GIF of this heatmap, one frame per epoch, for slides.")
    with right:
        plot(assignment_panel_figure(lr.epochs, layer, names, current_epoch=epoch,
                                     height=max(heatmap_height(w.shape[0]), 700)))
        explain("Top: how decided the channels are (1/K undecided, 1 fully decided), the chosen layer in bold. "
                "Middle: how many channels each class owns in this layer; a fair share is C/K each. Bottom: the "
                "softmax temperature of every layer; lower means sharper.")
    unset = {} if "asg_channel" in st.session_state else {"index": None}
    channel = st.selectbox("Channel", list(range(w.shape[0])), key="asg_channel", **unset,
                           placeholder="Click a row of the heatmap, or pick a channel here")
    if channel is not None:
        history = {e: w_e[channel] for e, w_e in lr.w_history(layer).items()}
        plot(channel_history_figure(history, names, channel=channel, layer=layer, current_epoch=epoch, height=320))
        explain("One channel's weight for every class over training. Undecided channels sit at 1/K; a channel that "
                "has chosen shows one line rising towards 1 while the others fall.")


view_page("Assignments", view, epoch_key=EPOCH_KEY)
