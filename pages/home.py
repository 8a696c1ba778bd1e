"""Home: the method's lineage in order (Forward-Forward, a static channel partition, the learned assignment, backprop)
and two one-click starts: train on digits, or open a finished run."""

import streamlit as st

from ffviz.presets import PRESETS
from ffviz.store import places
from pages.common.frame import state
from pages.common.server import access_ui
from pages.common.train import settings

DIAGRAMS = places.REPO / "assets" / "diagrams"


def train_digits() -> None:
    cfg = settings.defaults()
    settings.load(cfg)
    if state.submit(cfg):
        state.go_to("pages/train.py")


def open_finished(run_id: str) -> None:
    state.set_current_run(run_id)
    state.go_to("pages/assignments.py")


state.require_frame()
state.go_to_if_asked()  # a button's callback above asked for Train or Assignments

st.title("Forward-Forward networks, trained live", anchor=False)
access_ui.show_denied()  # "Train on digits now" beyond the server's limits
st.markdown("#### Every layer of this network learns on its own. Watch how.")
finished = state.latest_finished()
classroom = settings.defaults()
with st.container(horizontal=True, gap="medium"):
    layers = PRESETS[classroom.preset].num_layers
    st.button("Train on digits now", icon=":material/play_arrow:", type="primary", key="home_train",
              on_click=train_digits, help=f"The classroom recipe: a {layers}-layer network on scikit-learn's "
              f"handwritten digits, {classroom.epochs} epochs, {settings.expected_time(classroom)}. No download.")
    st.button("Open a finished run", icon=":material/folder_open:", key="home_open", disabled=finished is None,
              on_click=open_finished, args=(finished,),
              help=f"Opens {finished} on the Assignments page." if finished else "No finished run yet.")

left, right = st.columns([1, 1.25], gap="large")
with left:
    st.markdown("""
The method's lineage, in order (the Gap page sets all four side by side):

**1. Forward-Forward** (Hinton, 2022). No backward journey through the network: every layer has its *own* loss and
learns from it alone; its input is detached, so no gradient crosses from one layer to the next. The label is written
into the input; a layer learns to give high **goodness** (its squared activations, summed or averaged) to an image
with its true label and low goodness to the same image with a wrong one. It learned MNIST well and struggled with
harder images (59% on CIFAR-10).

**2. A fixed block of channels per class** (CwComp, DeeperForward). Forward-Forward CNNs in which each layer's
channels are split into fixed blocks, one block per class: a class's goodness is its block's, and the classes compete
through a softmax instead of through negative data. Nothing to learn in the split, but a channel stuck in the wrong
block can never move.

**3. A learned assignment** (CAW-Conv, the method shown here). A soft matrix **W** (channels × classes) that starts
uniform and sharpens while training runs. Two regularizers shape it: an **entropy** term pushes each channel towards
few classes, an **orthogonality** term keeps classes from sharing the same channels. The prediction is a vote of all
layers, each weighted by how well it did (its contribution **α**).

**4. Backpropagation**, the reference: one loss at the very end, an error signal sent backwards through every layer,
each layer waiting for the layers above it to tell it how to change.
""")

with right:
    st.image(str(DIAGRAMS / "ff_vs_backprop.svg"), width="stretch",
             caption="The same layers trained two ways; at the bottom, fixed blocks vs a learned assignment.")

left, right = st.columns([1.25, 1], gap="large")
with left:
    st.image(str(DIAGRAMS / "caw_layer.svg"), width="stretch", caption="Inside one CAW-Conv layer.")
with right:
    st.markdown("""
**Inside one layer.** A 3×3 convolution and a ReLU make C feature maps. Each map is pooled into one number per
image, the channel's goodness p. The assignment W turns those C numbers into K class scores, g = p · W, and a
cross-entropy on g is the layer's loss. At the start W is uniform, every class gets the same score and the conv
weights get no gradient at all: the assignment has to move first. That moment is worth watching.

**What to look at.** *Train* runs a network and draws each layer's loss and accuracy as it learns; you can change
the regularizer weights and the learning rate while it runs. *Assignments* shows W sharpen, epoch by epoch.
*Regularizers* shows the two terms beside the cross-entropy. *Goodness* shows how clearly each layer separates the
right class from the wrong ones. *Layer contributions* shows how the layers' votes are weighted. *The gap* sets the
lineage's four ways side by side, over seeds, beside the published figures.
""")
