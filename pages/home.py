"""Home: what Forward-Forward is, how this method differs from backprop and from a static channel partition, and
two one-click starts: train on digits, or open a finished run."""

import streamlit as st

from ffviz.presets import PRESETS
from pages.common.frame import state
from pages.common.server import access_ui
from pages.common.train import settings

DIAGRAMS = state.REPO / "assets" / "diagrams"


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
**Backpropagation**, the usual way to train a network, computes one loss at the very end and sends an error signal
backwards through every layer. Each layer waits for the layers above it to tell it how to change.

**Forward-Forward** (Hinton, 2022) drops that backward journey. Every layer has its *own* loss and learns from it
alone: its input is detached, so no gradient crosses from one layer to the next. Here each layer turns its channels
into a score for every class, its **goodness**, and is trained to give the right class the highest score. The
final prediction is a vote of all layers, each weighted by how well it did (its contribution **α**).

**Which channels speak for which class?** Earlier Forward-Forward CNNs (CwComp, DeeperForward) split a layer's
channels into fixed blocks, one block per class: nothing to learn, but a channel stuck in the wrong block can never
move. **CAW-Conv**, the method shown here, *learns* the assignment: a soft matrix **W** (channels × classes) that
starts uniform and sharpens while training runs. Two regularizers shape it: an **entropy** term pushes each channel
towards few classes, an **orthogonality** term keeps classes from sharing the same channels.
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
right class from the wrong ones. *Layer contributions* shows how the layers' votes are weighted.
""")
