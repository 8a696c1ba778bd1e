"""Regularizers: per layer over epochs, the entropy and orthogonality terms on W, raw and as weighted in the loss,
beside the cross-entropy; and the Gram matrix ŴᵀŴ that the orthogonality term reads, at a chosen epoch."""

import streamlit as st

from ffviz.figures import gram_figure, regularizer_figure
from ffviz.regularizers import REGULARIZERS
from ffviz.store.runs import RunReader
from pages.common.frame.keys import epoch_key, layer_key
from pages.common.frame.widgets import epoch_scrubber, explain, has_no_assignment, layer_select, plot, view_page

EPOCH_KEY = epoch_key("regularizers")  # the epoch scrubber, whose Play toggle times the view (a link's epoch=)
LAYER_KEY = layer_key("regularizers")  # a link's layer=


def view(lr: RunReader, run_state: str, names: list[str]) -> None:
    if has_no_assignment(lr, "Regularizers"):
        return
    cfg = lr.config
    widths = [w.shape[0] for w in lr.snapshot(lr.view_epochs[0]).w]
    c1, c2, c3 = st.columns([1, 0.8, 2.2], vertical_alignment="bottom")
    with c1:
        layer = layer_select(len(widths), key=LAYER_KEY, widths=widths)
    with c2:
        log = st.toggle("Log scale", value=True, key="reg_log",
                        help="The weighted terms are hundreds of times smaller than the cross-entropy: on a "
                             "linear scale they lie flat on zero.")
    with c3:
        epoch = epoch_scrubber(lr, run_state, key=EPOCH_KEY)
    left, right = st.columns([1.5, 1], gap="medium")
    with left:
        plot(regularizer_figure(lr.epochs, layer, lr.events, log=log, current_epoch=epoch))
        raw = "; ".join(f"{r.symbol} {r.description}" for r in REGULARIZERS.values())
        weights = ", ".join(f"{r.weight_symbol} = {getattr(cfg, r.weight_field, 0.0):g}" for r in REGULARIZERS.values())
        explain(f"Dotted: the raw terms. {raw}. Solid: what they add to the loss ({weights}, orthogonality "
                f"scaling '{cfg.orth_scaling}', warmed up over {cfg.orth_warmup_epochs} epochs), against the "
                f"cross-entropy in black. Flags mark live changes.")
    with right:
        plot(gram_figure(lr.snapshot(epoch).w[layer], names, layer=layer, epoch=epoch))
        explain("Each cell compares two classes' columns of W: 1 means the two classes draw on exactly the same "
                "channels, 0 on different ones. The orthogonality term pushes the off-diagonal cells to 0.")


view_page("Regularizers", view, epoch_key=EPOCH_KEY)
