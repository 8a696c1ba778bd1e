"""Layer contributions: α per layer over epochs above four ways to read the network (α-weighted, plain sum, last
layer, best layer); at a chosen epoch, each layer's accuracy beside its α and the ensemble's confusion matrix; and a
PCA of one layer's goodness vectors coloured by class."""

import streamlit as st

from ffviz.figures import (
    confusion_figure,
    contributions_over_epochs_figure,
    layer_accuracy_alpha_figure,
    pca_figure,
)
from ffviz.store.runs import RunReader
from pages.common.frame.keys import epoch_key, layer_key
from pages.common.frame.widgets import epoch_scrubber, explain, layer_select, plot, view_page

EPOCH_KEY = epoch_key("contributions")  # the epoch scrubber, whose Play toggle times the view (a link's epoch=)
LAYER_KEY = layer_key("contributions")  # a link's layer=


def view(lr: RunReader, run_state: str, names: list[str]) -> None:
    epoch = epoch_scrubber(lr, run_state, key=EPOCH_KEY)
    record, snap = lr.epoch(epoch), lr.snapshot(epoch)
    test = lr.test if run_state == "finished" else None
    left, right = st.columns(2, gap="medium")
    with left:
        plot(contributions_over_epochs_figure(lr.epochs, test=test, current_epoch=epoch, height=760))
        explain("Top: after every epoch each layer gets a weight α = softmax(−loss); the lower its loss, the more its "
                "vote counts. Bottom: the α-weighted vote against the plain sum, the last layer alone and the best "
                "single layer; stars are the same readings on the held-out test split once the run has finished.")
    with right:
        plot(layer_accuracy_alpha_figure(record, height=360))
        explain("Bars: each layer's own accuracy at the chosen epoch. Diamonds: its α. The two usually rise and "
                "fall together, since a layer with a low loss also tends to guess right.")
        plot(confusion_figure(snap.val_y, snap.val_pred, names, epoch=epoch, height=420))
        explain("Rows: the true class; columns: what the α-weighted vote said. A strong diagonal is good; a bright "
                "cell off it is a pair of classes the network mixes up.")
    widths = [w.shape[0] for w in snap.w]
    c1, _ = st.columns([1, 3])
    with c1:
        layer = layer_select(len(widths), key=LAYER_KEY, widths=widths, default=len(widths) - 1)
    plot(pca_figure(snap, layer, names))
    explain("Each dot is one probe image, placed by its layer's channel goodness squeezed onto two axes (PCA), "
            "coloured by its true class. Clusters that pull apart mean the layer separates the classes.")


view_page("Layer contributions", view, epoch_key=EPOCH_KEY)
