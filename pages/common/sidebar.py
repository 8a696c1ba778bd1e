"""The shared sidebar: which run every page shows, its state, and what the server is training."""

from __future__ import annotations

import streamlit as st

from ffviz.store import places
from ffviz.store.progress import run_label
from pages.common.frame import classroom, state
from pages.common.frame.widgets import STATUS_COLORS
from pages.common.train import settings

PICKER = "run_picker"


def _picked() -> None:
    settings.open_run(st.session_state.get(PICKER))


def render() -> None:
    ids = places.all_run_ids()
    current = state.current_run_id()
    with st.sidebar:
        st.markdown("##### Run shown on every page")
        if not ids:
            st.caption("No runs yet: start one on the Train page.")
            return
        options = ids if current in ids or current is None else [current, *ids]
        st.session_state[PICKER] = current
        labels = {rid: run_label(places.find_run(rid) or state.root() / rid) for rid in options}
        if not classroom.hidden("run_picker"):
            st.selectbox("Run", options, key=PICKER, index=None, format_func=lambda r: labels.get(r, r),
                         on_change=_picked, label_visibility="collapsed", placeholder="Pick a run",
                         disabled=classroom.locked("run_picker"))
        if current:
            run_state = state.status(current)
            lr = state.live(current)
            with st.container(horizontal=True, gap="small"):
                st.badge(run_state, color=STATUS_COLORS.get(run_state, "gray"))
                if lr is not None:
                    cfg = lr.config
                    st.caption(f"{cfg.mode} · {cfg.preset} · {cfg.dataset}")
        active = state.manager().active()
        if active:
            st.caption(f"Training on this server: {sum(i.state != 'queued' for i in active)} "
                       f"running or paused, {sum(i.state == 'queued' for i in active)} queued "
                       f"(at most {state.manager().max_running} at a time).")
