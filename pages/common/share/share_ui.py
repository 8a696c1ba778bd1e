"""Share links in the app: read the link a session opened with, once, into the widgets' state; keep a teacher's
hidden and locked controls for the whole session; build the link of the screen being shown.

    share_ui.apply_link(page.url_path)      # streamlit_app.py, before the sidebar and the page
    share_ui.link_panel(page.url_path)      # the sidebar's "Share this screen" and the teacher's classroom link

What a link means is decided in links.py (no Streamlit there); here it only flows into session state. What a link
hides or locks is read by classroom.py.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from ffviz.config import label
from ffviz.store import places
from pages.common.frame import state
from pages.common.frame.classroom import current
from pages.common.frame.classroom import link as _link
from pages.common.frame.keys import (
    CFG_READY_KEY,
    COMPARE_RUNS_KEY,
    GAP_KEYS,
    SHARE_APPLIED_KEY,
    SHARE_KEY,
    SHARE_NOTES_KEY,
    VIEW_PAGES,
    epoch_key,
    layer_key,
)
from pages.common.frame.links import (
    BUTTONS,
    CONFIG_FIELDS,
    CONTROLS,
    ShareState,
    config_changes,
    decode,
    encode,
    fit_to_run,
    share_url,
)
from pages.common.frame.text import plain
from pages.common.train import settings

CONTROL_LABELS = {
    **{name: label(name) for name in CONFIG_FIELDS},
    **{b: f"{'One epoch' if b == 'step' else b.capitalize()} button" for b in BUTTONS},
    "run_picker": "Run picker (sidebar)", "epoch": "Epoch slider and Play", "layer": "Layer picker",
}


# ----------------------------------------------------------------------------------------------------- on load
def apply_link(page_path: str) -> None:
    """On a session's first run: decode the URL and put what it says into session state, before any widget is
    drawn; go to the page it names. On every run: keep the teacher's hide/lock in the URL (a reload keeps them)."""
    ss = st.session_state
    if not ss.get(SHARE_APPLIED_KEY):
        ss[SHARE_APPLIED_KEY] = True
        params = st.query_params.to_dict()
        if params:
            link, notes = decode(params, known_runs=places.all_run_ids())
            notes += _apply(link, params)
            ss[SHARE_KEY] = link
            target = link.page or page_path or "home"
            ss[SHARE_NOTES_KEY] = (target if target != "home" else "", notes)
            if link.page is not None and link.page != (page_path or "home"):
                st.switch_page(f"pages/{link.page}.py")
    link = _link()
    for key in ("hide", "lock"):
        value = encode(link).get(key)
        if value and st.query_params.get(key) != value:
            st.query_params[key] = value


def _apply(link: ShareState, params: dict) -> list[str]:
    ss = st.session_state
    notes: list[str] = []
    if any(k.strip().lower() in CONFIG_FIELDS for k in params):
        settings.load(link.run_config())
    if link.run:
        state.set_current_run(link.run)
    if link.page in VIEW_PAGES and (link.epoch is not None or link.layer is not None):
        lr = state.live(link.run or state.current_run_id())
        if lr is not None and lr.epochs:
            fitted, more = fit_to_run(link, [e.epoch for e in lr.epochs], len(lr.epochs[-1].val_acc))
            notes += more
            if fitted.epoch is not None:
                ss[epoch_key(link.page)] = fitted.epoch
            if fitted.layer is not None:
                ss[layer_key(link.page)] = fitted.layer
    if link.compare and link.page == "compare":
        ss[COMPARE_RUNS_KEY] = list(link.compare)
    elif link.compare and link.page == "gap":
        for run_id in link.compare:
            lr = state.live(run_id)
            if lr is not None and lr.config.mode in GAP_KEYS:
                ss[GAP_KEYS[lr.config.mode]] = run_id
    return notes


def show_notes(page_path: str) -> None:
    """What the link could not use, in one box, on the page it opened (until the user goes elsewhere)."""
    page, notes = st.session_state.get(SHARE_NOTES_KEY) or ("", [])
    if not notes:
        return
    if page != page_path:
        st.session_state.pop(SHARE_NOTES_KEY, None)
        return
    lines = "\n".join(f"- {plain(n)}" for n in notes)  # notes quote the link's own text: shown as typed
    st.warning(f"**Parts of this link were not used:**\n{lines}", icon=":material/link_off:")


# ----------------------------------------------------------------------------------------------------- the link
def base_url(page_path: str) -> str:
    """The app's address as the browser sees it, without the page's path."""
    try:
        url = st.context.url
        host = None if url else st.context.headers.get("host")
    except Exception:  # no browser behind this session (a test)
        url, host = None, None
    if url:
        url = url.rstrip("/")
        if page_path and url.endswith("/" + page_path):
            url = url[: -len(page_path) - 1]
        return url
    return f"http://{host}" if host else "http://localhost:8501"


def screen(page_path: str) -> ShareState:
    """The state of the screen being shown, as a link carries it."""
    ss = st.session_state
    page = page_path or "home"
    run = state.current_run_id()
    cfg = settings.config()[0] if ss.get(CFG_READY_KEY) else None
    if cfg is None:
        lr = state.live(run)
        cfg = lr.config if lr is not None else settings.defaults()
    epoch = layer = None
    if page in VIEW_PAGES:
        epoch, layer = ss.get(epoch_key(page)), ss.get(layer_key(page))
    compare: tuple[str, ...] = ()
    if page == "compare":
        compare = tuple(ss.get(COMPARE_RUNS_KEY) or ())
    elif page == "gap":
        compare = tuple(r for r in (ss.get(k) for k in GAP_KEYS.values()) if r)
    link = _link()
    return ShareState(page=page, run=run, config=config_changes(cfg), epoch=epoch, layer=layer, compare=compare,
                      hide=link.hide, lock=link.lock, lock_all=link.lock_all)


def link_panel(page_path: str) -> None:
    """The sidebar's share controls: the link of this screen, and (unless this is a classroom link) the teacher's."""
    here = screen(page_path)
    base = base_url(page_path)
    with st.sidebar:
        # Opening a box reruns the whole app, so the link is made from the screen as it is now (a view page's
        # epoch slider lives in a fragment, whose reruns do not reach the sidebar).
        with st.expander("Share this screen", icon=":material/link:", key="share_open", on_change="rerun"):
            st.caption("Copy link (the button at the right of the box). It opens this page with this run and these "
                       "settings, seed included.")
            st.code(share_url(base, here), language=None, wrap_lines=True)
        if current().classroom:
            st.caption(":material/lock: Some controls are hidden or locked by the classroom link you opened.")
            return
        with st.expander("Classroom link (for teachers)", icon=":material/school:", key="teacher_open",
                         on_change="rerun"):
            st.caption("Students who open it see this screen with the controls you pick hidden or locked.")
            st.caption(":material/warning: A link's locks are a convenience, not a rule: a student who edits the "
                       "link (deleting `&hide=` or `&lock=`) gets the controls back. What binds every student is the "
                       "teacher's **Classroom settings** in this sidebar, saved on the server.")
            hide = st.multiselect("Hide these controls", CONTROLS, key="share_hide",
                                  format_func=lambda c: CONTROL_LABELS.get(c, c))
            lock_all = st.toggle("Lock every other setting", key="share_lock_all",
                                 help="Every training setting that is not hidden. The run buttons, the run picker "
                                      "and the epoch and layer pickers stay free unless you lock them below.")
            lock = st.multiselect("Lock these controls", CONTROLS, key="share_lock",
                                  format_func=lambda c: CONTROL_LABELS.get(c, c))
            teacher = dataclasses.replace(here, hide=tuple(hide), lock_all=lock_all,
                                          lock=tuple(c for c in lock if c not in hide))
            if teacher.classroom:
                st.code(share_url(base, teacher), language=None, wrap_lines=True)
            else:
                st.caption("Pick controls to hide or lock, and the classroom link appears here.")
