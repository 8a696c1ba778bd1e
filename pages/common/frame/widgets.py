"""Widgets and blocks every view page uses: the page frame, the run header, the explanations, the layer and epoch
pickers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from ffviz.config import start_words
from ffviz.figures.diagnosis import diagnose
from ffviz.figures.style import settled_pandas
from ffviz.modes import get_mode
from ffviz.regularizers import REGULARIZERS
from ffviz.seed_groups import TEASER
from ffviz.store import places
from ffviz.store.folder import ACTIVE
from ffviz.store.notes import read_notes
from ffviz.store.progress import format_seconds, progress
from ffviz.store.runs import RunReader
from pages.common.frame import classroom, state
from pages.common.frame.keys import FULL_RERUN_KEY
from pages.common.frame.text import plain

STATUS_COLORS = {"running": "green", "starting": "green", "queued": "orange", "paused": "orange",
                 "finished": "blue", "stopped": "gray", "interrupted": "gray", "failed": "red"}
PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def explain(text: str) -> None:
    """The two or three sentences under a chart: what it shows and what to look for."""
    st.markdown(f"<div class='ffviz-explain'>{text}</div>", unsafe_allow_html=True)


def plot(fig: go.Figure, *, key: str | None = None, **kwargs: Any) -> Any:
    settled_pandas()  # plotly's serialisation reads pandas too (ffviz/figures/style.py)
    return st.plotly_chart(fig, width="stretch", config=PLOTLY_CONFIG, key=key, **kwargs)


def has_no_assignment(lr: RunReader, page: str) -> bool:
    """True, after saying so, for a run whose mode has no assignment W (original Forward-Forward): ``page`` shows W."""
    mode = get_mode(lr.config.mode)
    if mode.assignment:
        return False
    st.info(f"This run is {mode.label}, {mode.description}: it has no assignment W, so there is nothing for the "
            f"{page} page to show. See its curves on Train, its goodness on Goodness, and the lineage on the Gap "
            "page; pick a run with an assignment (learnable or static) here.", icon=":material/block:")
    return True


def view_page(title: str, view: Callable[[RunReader, str, list[str]], None], *, epoch_key: str) -> None:
    """A view page: its title, then the session's run (its header, and a line that follows it while it may still
    write) or, with none, the way to start one. ``view(lr, run_state, class_names)`` draws the charts once the run has
    an epoch, in a fragment of its own: Play on the page's epoch scrubber (``epoch_key``) reruns only that fragment,
    once a second."""
    st.title(title, anchor=False)
    lr, run_state = current()
    if lr is None:  # a session with no run of its own: the newest finished run, so the page is never empty
        lr, run_state = _newest_finished()
        if lr is None:
            no_run()
            st.stop()
        st.caption(f"Showing {lr.run_id}, the newest finished run on this server. Pick another in the sidebar, or "
                   "train your own on the Train page.")
    run_header(lr, run_state)
    watch_run(lr, run_state)
    names = lr.meta.get("class_names") or [str(k) for k in range(10)]

    @st.fragment(run_every=refresh_interval(f"{epoch_key}_play"))
    def charts() -> None:
        lr.refresh()
        full_rerun_if_requested()
        if not lr.epochs:
            st.info("Waiting for the first epoch record…")
            return
        try:
            view(lr, run_state, names)
        except Exception as e:  # noqa: BLE001 - an upload's records that do not add up: one message, not a broken page
            if places.source_of(lr.dir) != "uploaded":
                raise  # a run this server or ffviz wrote: a bug to see, not to hide
            st.error(f"{lr.run_id} cannot be drawn here: its files do not agree ({type(e).__name__}: "
                     f"{str(e)[:200]}). Pick another run in the sidebar or on the Runs page.", icon=":material/error:")

    charts()


def current() -> tuple[RunReader | None, str]:
    """The session's run and its state; (None, "") when there is none."""
    run_id = state.current_run_id()
    lr = state.live(run_id)
    if lr is None:
        return None, ""
    return lr, state.status(run_id, lr.meta)


def _newest_finished() -> tuple[RunReader | None, str]:
    run_id = state.latest_finished()
    lr = state.live(run_id)
    return (None, "") if lr is None else (lr, state.status(run_id, lr.meta))


NEXT_STEPS = (
    ("pages/assignments.py", "Assignments", ":material/grid_on:",
     "Scrub through the epochs and watch each layer's assignment W leave its uniform start and sharpen, channel by "
     "channel, towards the classes it comes to speak for."),
    ("pages/regularizers.py", "Regularizers", ":material/tune:",
     "See the entropy and orthogonality terms beside each layer's cross-entropy: how much they weigh, and what they "
     "do to W."),
    ("pages/gap.py", "The gap", ":material/leaderboard:",
     TEASER),
)


def next_steps() -> None:
    """After a run finishes: where the method shows itself, one sentence each."""
    st.markdown("##### What to look at next")
    for path, label, icon, sentence in NEXT_STEPS:
        st.page_link(path, label=label, icon=icon)
        explain(sentence)


def no_run() -> None:
    st.info("No run to show yet. Start one on the **Train** page (digits train in seconds on a laptop), or pick a "
            "finished run in the sidebar.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")


def run_header(lr: RunReader, run_state: str) -> None:
    """One line that says which run the page shows, in what state, and the settings that matter most."""
    cfg = lr.config
    ep = lr.epochs[-1].epoch if lr.epochs else 0
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.badge(run_state, color=STATUS_COLORS.get(run_state, "gray"))
        weights = " · ".join(f"{r.weight_symbol} {getattr(cfg, r.weight_field):g}" for r in REGULARIZERS.values())
        notes = read_notes(lr.dir)
        title = f"**{plain(notes.title)}** · {plain(lr.run_id)}" if notes.title else f"**{plain(lr.run_id)}**"
        start = f" ({start_words(cfg)})" if start_words(cfg) else ""
        st.markdown(f"{title} · {cfg.mode}{start} · {cfg.preset} · {cfg.dataset} · epoch {ep}/{cfg.epochs} · "
                    f"{weights}")
    if notes.note:
        st.caption(f":material/sticky_note_2: {plain(notes.note)}")  # plain text, never Markdown
    if run_state == "failed":
        show_failure(lr)


def stuck_flag(lr: RunReader) -> None:
    """The stuck-start warning (ffviz/figures/diagnosis.py): what is happening to W or T, and what to try; nothing
    while the run learns."""
    diag = diagnose(lr.epochs, lr.config, lr.meta.get("num_classes"))
    if diag.stuck:
        text = "\n\n".join(f.sentence for f in diag.flags)
        st.warning(f"**{diag.heading}** {text}", icon=":material/report:")


def show_failure(lr: RunReader) -> None:
    error = lr.meta.get("error")
    st.error(f"This run failed: {plain(error or 'no message recorded')}", icon=":material/error:")


def check_state_change(lr: RunReader, run_state: str) -> None:
    """Inside a live fragment: when the run's state moved on (finished, paused...), rerun the whole page so its
    header, controls and refresh timer follow."""
    now = state.status(lr.run_id, lr.meta)
    if now != run_state:
        st.rerun()


def layer_select(num_layers: int, *, key: str, widths: list[int] | None = None, default: int | None = None) -> int:
    """Pick a layer (0 = first); the label says how many channels it has."""
    if key not in st.session_state or st.session_state[key] >= num_layers:
        st.session_state[key] = min(default if default is not None else num_layers // 2, num_layers - 1)

    def label(i: int) -> str:
        return f"layer {i} ({widths[i]} channels)" if widths and i < len(widths) else f"layer {i}"
    if classroom.hidden("layer"):  # a classroom link fixed the layer
        return int(st.session_state[key])
    return st.selectbox("Layer", list(range(num_layers)), format_func=label, key=key,
                        disabled=classroom.locked("layer"),
                        help="Layer 0 sees the image; the last layer is the deepest.")


def epoch_scrubber(lr: RunReader, run_state: str, *, key: str) -> int:
    """An epoch slider that follows the newest epoch while it sits on it, and a Play toggle that steps through
    training once a second. Returns the chosen epoch."""
    ss = st.session_state
    epochs = lr.view_epochs  # those with a snapshot (an imported log holds W every 10 epochs)
    first, last = epochs[0], epochs[-1]
    play_key, last_key = f"{key}_play", f"{key}_last"
    playing = bool(ss.get(play_key))
    if key not in ss or ss[key] not in epochs:
        ss[key] = last
    elif playing and not ss.pop(f"{key}_fresh", False):
        if ss[key] < last:
            ss[key] = epochs[epochs.index(ss[key]) + 1]
        elif run_state not in ACTIVE:
            ss[play_key] = False  # played to the end
            _request_full_rerun()
    elif not playing and ss.get(last_key) == ss[key]:
        ss[key] = last  # sitting on the newest epoch: follow it as epochs arrive (the last one too)
    ss[last_key] = last
    if classroom.hidden("epoch"):  # a classroom link fixed the epoch
        st.markdown(f"Epoch **{ss[key]}**")
        return int(ss[key])
    locked = classroom.locked("epoch")
    cols = st.columns([5, 1.3], vertical_alignment="bottom")
    with cols[1]:
        st.toggle("Play", key=play_key, help="Step through the epochs, one a second.", disabled=first == last or locked,
                  on_change=_start_play, args=(key, first, last))
    with cols[0]:
        if first == last:
            st.markdown(f"Epoch **{last}** (untrained; the first trained epoch arrives soon)" if last == 0 else
                        f"Epoch **{last}** (the one epoch this run recorded: an imported checkpoint)")
            return last
        # A select_slider keeps its identity while epochs arrive (a slider's depends on its max, so it would be
        # rebuilt, dropping a drag or a key press in progress, at every epoch).
        return st.select_slider("Epoch", options=epochs, key=key, disabled=locked,
                                help="Scrub through training: the charts on this page follow the chosen epoch.")


def _start_play(key: str, first: int, last: int) -> None:
    ss = st.session_state
    if ss.get(f"{key}_play"):
        if ss.get(key, last) >= last:
            ss[key] = first  # play from the beginning
        ss[f"{key}_fresh"] = True
    _request_full_rerun()


def _request_full_rerun() -> None:
    st.session_state[FULL_RERUN_KEY] = True


def full_rerun_if_requested() -> None:
    """Play/stop changes the page's refresh timer, which only a full rerun can set."""
    if st.session_state.pop(FULL_RERUN_KEY, False):
        st.rerun()


def refresh_interval(play_key: str) -> float | None:
    """A view's own timer runs only while Play steps through the epochs; new records reach it via watch_run."""
    return 1.0 if st.session_state.get(play_key) else None


def watch_run(lr: RunReader, run_state: str) -> None:
    """While the run may still write: one line that follows it once a second, and a rerun of the page when an epoch
    or a new state arrives. A view's charts change only then, so the browser redraws nothing in between (a view
    redrawn every second costs the training run a third of its speed on a small machine)."""
    if run_state not in ACTIVE:
        return
    key = f"_watch_{lr.run_id}"
    st.session_state[key] = (len(lr.epochs), run_state)

    @st.fragment(run_every=state.refresh_every(run_state))
    def watch() -> None:
        lr.refresh()
        now = (len(lr.epochs), state.status(lr.run_id, lr.meta))
        if now != st.session_state.get(key):
            st.rerun()
        p = progress(lr, now[1])
        batch = f", batch {p.batch_in_epoch}/{p.batches_per_epoch}" if p.batches_per_epoch else ""
        speed = f" · {p.images_per_sec:,.0f} images/s" if p.images_per_sec else ""
        st.caption(f":material/sync: {now[1].capitalize()}: epoch {min(p.epochs_done + 1, p.epochs_total)} of "
                   f"{p.epochs_total}{batch}{speed} · time left {format_seconds(p.seconds_left)}. The charts "
                   f"follow at the end of each epoch.")

    watch()
