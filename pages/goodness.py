"""Goodness: per layer over epochs, the true class against the strongest wrong class; at a chosen epoch, how class
goodness spreads over the probe images; and one image, shown, with its goodness at every layer and the ensemble's
prediction."""

import streamlit as st

from ffviz.figures import goodness_distribution_figure, image_goodness_figure, true_vs_wrong_figure
from ffviz.store.runs import RunReader
from pages.common.frame.images import validation_image
from pages.common.frame.keys import epoch_key, layer_key
from pages.common.frame.text import plain
from pages.common.frame.widgets import epoch_scrubber, explain, layer_select, plot, view_page

EPOCH_KEY = epoch_key("goodness")  # the epoch scrubber, whose Play toggle times the view (a link's epoch=)
LAYER_KEY = layer_key("goodness")  # a link's layer=


def view(lr: RunReader, run_state: str, names: list[str]) -> None:
    if not any(g == g for e in lr.epochs for g in e.good_true):  # all NaN: a run imported from the authors' logs
        st.info("This run records no goodness: it was imported from the authors' training logs, which keep "
                "accuracies, losses and W only. Its curves are on the Train and Layer contributions pages.",
                icon=":material/info:")
        return
    widths = [w.shape[0] for w in lr.snapshot(lr.epochs[0].epoch).w]
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    with c1:
        layer = layer_select(len(widths), key=LAYER_KEY, widths=widths)
    with c2:
        epoch = epoch_scrubber(lr, run_state, key=EPOCH_KEY)
    snap = lr.snapshot(epoch)
    left, right = st.columns(2, gap="medium")
    with left:
        plot(true_vs_wrong_figure(lr.epochs, highlight=layer, current_epoch=epoch))
        explain("A layer has learnt when its solid line (the right class) climbs away from its dotted line (the "
                "best-scoring wrong class). At epoch 0 the two lines coincide: every class scores the same.")
    with right:
        plot(goodness_distribution_figure(snap))
        explain("At the chosen epoch, over the probe images: green is the right class's goodness, red the strongest "
                "wrong class's. Where the boxes separate, that layer tells the classes apart.")
    st.subheader("One image, layer by layer", anchor=False)
    n = len(snap.probe_y)
    if n == 0:
        st.info("This run stored no probe images.")
        return
    pic, chart = st.columns([1, 4], gap="medium")
    with pic:
        i = st.number_input("Probe image", 0, n - 1, key="good_image", step=1,
                            help="One of the validation images whose goodness the run records every epoch.")
        px = validation_image(lr.config, int(snap.probe_index[i]), lr.dir)
        if px is not None:
            st.image(px, width=180, clamp=True, caption=f"true class: {names[int(snap.probe_y[i])]}")
        else:
            st.caption(f"True class: {plain(names[int(snap.probe_y[i])])} (the image files are not on this machine).")
    with chart:
        alpha = lr.epoch(epoch).alpha if lr.epoch(epoch) else [1 / len(widths)] * len(widths)
        plot(image_goodness_figure(snap, i, alpha, names))
        explain("Left: how sure each layer is about each class for this one image (green: probable); the true "
                "class is boxed. Right: the α-weighted vote of all layers, which is the network's answer.")


view_page("Goodness", view, epoch_key=EPOCH_KEY)
