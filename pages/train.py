"""Train: settings on the left, run controls and live charts on the right.

The run itself is a process of its own, launched by the server's RunManager, not this script: switching pages,
moving a widget or closing the tab leaves it training, and this page reads its folder again on return.
"""

import streamlit as st

from ffviz.figures.style import LIVE_NAMES
from pages.common.frame import state
from pages.common.frame.keys import RETRAIN_OVERLAY_KEY, TOAST_KEY
from pages.common.frame.widgets import check_state_change, current, explain, next_steps, show_failure, stuck_flag
from pages.common.server import access_ui
from pages.common.train import controls, settings

lr, run_state = current()
settings.ensure_initialised(lr.config if lr else settings.defaults())
if lr is not None and state.is_managed_active(lr.run_id):
    settings.sync_live(lr.run_id, controls.live_values(lr))
if toast := st.session_state.pop(TOAST_KEY, None):
    st.toast(toast, icon=":material/tune:")

st.title("Train", anchor=False)
left, right = st.columns([1, 2.6], gap="large")
with left:
    settings.live_controls(running=lr is not None and state.is_managed_active(lr.run_id))
    settings.groups()
cfg, error = settings.config()

with right:
    access_ui.show_denied()  # a refused Start, Stop, change...: beyond a limit, or not this session's run
    if error:
        st.error(f"Fix this setting first: {error}", icon=":material/warning:")
    no_data = controls.data_missing(cfg)
    controls.buttons(cfg, lr, run_state, no_data=no_data)
    if lr is None:
        took = settings.expected_time(cfg) if cfg is not None else None
        st.info("Pick your settings and press **Start**" + (f": these take {took}." if took else ".") +
                " The defaults are the classroom recipe on the built-in digits. Or open a finished run from the "
                "sidebar.", icon=":material/school:")
        explain(f"While it trains, {', '.join(LIVE_NAMES.values())} can be changed on the left; each change "
                "takes effect at the next batch and is marked on the charts.")
    else:
        compare = state.live(st.session_state.get(RETRAIN_OVERLAY_KEY))

        @st.fragment(run_every=state.refresh_every(run_state))
        def live_panel() -> None:
            lr.refresh()
            if compare is not None:
                compare.refresh()
            check_state_change(lr, run_state)
            if run_state == "failed":
                show_failure(lr)
            controls.status_panel(lr, run_state)
            stuck_flag(lr)
            controls.changes_recorded(lr)
            controls.charts(lr, compare if compare is not lr else None)

        live_panel()
        if run_state == "finished":
            next_steps()
