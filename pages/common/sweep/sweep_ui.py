"""The Sweep page's view of a sweep: pick one, its heatmaps (filling in while runs finish; a click opens a cell's
run on every view page), and the message an action left. Starting a sweep and a student's own cell: sweep_start.py.
"""

from __future__ import annotations

import streamlit as st

from ffviz.figures.sweep import METRICS, summarize_cells, sweep_heatmap
from ffviz.runner.sweep_leases import Slot
from ffviz.runner.sweep_spec import cell_label
from ffviz.runner.sweep_store import Sweep, describe, find_sweep, list_sweeps, outcomes
from ffviz.store.folder import ACTIVE
from pages.common.frame import state
from pages.common.frame.keys import BY_NAME, SWEEP_OPENED_KEY, SWEEP_RERUN_KEY
from pages.common.frame.keys import SWEEP_JOIN_KEY as JOIN_KEY
from pages.common.frame.keys import SWEEP_MSG_KEY as MSG_KEY
from pages.common.frame.keys import SWEEP_NEXT_PICK_KEY as NEXT_PICK_KEY
from pages.common.frame.keys import SWEEP_PICK_KEY as PICK_KEY
from pages.common.frame.keys import VIEW_PAGES as VIEWS
from pages.common.frame.text import plain
from pages.common.frame.widgets import explain, plot
from pages.common.server import access_ui
from pages.common.train import settings

REFRESH_S = 2.0
VIEW_PAGES = tuple((BY_NAME[name].script, BY_NAME[name].title) for name in VIEWS)  # from the table of pages


def token() -> str:
    """This browser's identity (its session cookie, ffviz.server.access): a claim survives a reload, as the run does."""
    return access_ui.identity().token


def joined_sweep() -> Sweep | None:
    """The sweep this session joined with a class link (remembered after the URL has moved on)."""
    ss = st.session_state
    if JOIN_KEY not in ss:
        wanted = st.query_params.get("sweep") if st.query_params.get("join") else None
        ss[JOIN_KEY] = wanted or ""
        if wanted:
            ss[PICK_KEY] = wanted
    return find_sweep(state.root(), ss[JOIN_KEY]) if ss[JOIN_KEY] else None


def message() -> None:
    kind, text = st.session_state.pop(MSG_KEY, (None, None))
    if kind == "error":
        st.error(plain(text), icon=":material/error:")  # may quote a run's name or error: shown as typed
    elif kind == "success":
        st.success(text, icon=":material/check_circle:")


# ----------------------------------------------------------------------------------------------------- picking
def pick() -> Sweep | None:
    """The sweep shown: the picker's, else the URL's ``?sweep=``, else the newest."""
    sweeps = {s.id: s for s in list_sweeps(state.root())}
    if not sweeps:
        return None
    ss = st.session_state
    if ss.get(NEXT_PICK_KEY) in sweeps:
        ss[PICK_KEY] = ss.pop(NEXT_PICK_KEY)
    if ss.get(PICK_KEY) not in sweeps:
        wanted = st.query_params.get("sweep")
        ss[PICK_KEY] = wanted if wanted in sweeps else next(iter(sweeps))
    sweep_id = st.selectbox("Sweep", list(sweeps), key=PICK_KEY, format_func=lambda i: describe(sweeps[i]))
    if st.query_params.get("sweep") != sweep_id:
        st.query_params["sweep"] = sweep_id  # a reload, or this screen's link, shows the same sweep
    return sweeps[sweep_id]


# ----------------------------------------------------------------------------------------------------- the grid
def state_of(run_id: str) -> str | None:
    info = state.manager().info(run_id)
    return info.state if info is not None else None


@st.cache_resource(show_spinner=False)
def _tagged() -> set[str]:
    """Runs whose meta.json carries their sweep already (shared by the server's sessions, so polls skip them)."""
    return set()


def _read(run_dir):
    lr = state.live(run_dir.name)
    return lr


def grid(sweep: Sweep) -> None:
    """The four heatmaps, in a fragment that follows the runs every couple of seconds until all have ended."""

    following = _unfinished(sweep)

    @st.fragment(run_every=REFRESH_S if following else None)
    def heatmaps() -> None:
        if st.session_state.get(JOIN_KEY) == sweep.id:
            sweep.renew(token())  # the student is still here: their claim's lease goes on
        slots = sweep.slots()  # read once per refresh: every part below works from this one reading
        sweep.tag_ended_runs(slots, skip=_tagged())
        cells = summarize_cells(len(sweep.spec.cells()), outcomes(sweep, read=_read, state_of=state_of, slots=slots))
        seeds = len(sweep.spec.seeds)
        runs = sum(c.runs for c in cells)
        done = sum(c.finished for c in cells)
        active = sum(c.active for c in cells)
        st.markdown(f"**{done} of {sweep.spec.num_runs} runs finished** · {active} training or queued · "
                    f"{sweep.spec.num_runs - runs} not started" + (" · **cancelled**" if sweep.cancelled else ""),
                    help="Each cell fills in when one of its seeds has "
                    "finished; its text says how many seeds are in.")
        cols = st.columns(2, gap="medium")
        for i, metric in enumerate(METRICS):
            with cols[i % 2]:
                key = f"sweep_heat_{metric}_{sweep.id}"
                plot(sweep_heatmap(sweep.spec.axes, cells, metric, seeds=seeds), key=key,
                     on_select=lambda k=key: _clicked(sweep, k), selection_mode="points")
        explain("Rows and columns are the swept settings; each cell is the mean over its seeds (accuracy also shows "
                "the spread). Sharpness: how decided the channels are (1/K undecided, 1 decided). Orthogonality: how "
                "much the classes' channel sets overlap (lower is more separate). Click a cell to open its run on "
                "every view page.")
        runs_picker(sweep, slots)
        if (following and not _unfinished(sweep, slots)) or st.session_state.pop(SWEEP_RERUN_KEY, False):
            # the last run just ended (one full rerun draws the page without the timer), or a run was opened (the
            # sidebar shows the session's run: it must follow)
            st.rerun()

    heatmaps()


def _unfinished(sweep: Sweep, slots: list[Slot] | None = None) -> bool:
    """True while a slot may still change: a run not ended, or (in a class experiment) a slot not yet taken."""
    for slot in sweep.slots() if slots is None else slots:
        if slot.run_id is None:
            return True  # a class experiment's slot no one has trained yet
        if (state_of(slot.run_id) or sweep.run_state(slot.run_id)) in ACTIVE:
            return True
    return False


def _clicked(sweep: Sweep, key: str) -> None:
    points = st.session_state[key].selection.get("points", [])
    if points and "customdata" in points[0]:
        open_cell(sweep, int(points[0]["customdata"]))


def open_cell(sweep: Sweep, cell: int) -> None:
    """Open the cell's run on every view page: its first finished seed, else its first started one."""
    slots = [s for s in sweep.slots() if s.cell == cell and s.run_id and state.live(s.run_id) is not None]
    slots.sort(key=lambda s: (sweep.run_state(s.run_id) != "finished", s.seed))
    if not slots:
        st.session_state[MSG_KEY] = ("error", f"No run of {cell_label(sweep.spec.cells()[cell])} has started yet.")
        return
    _open(sweep, slots[0].run_id, f"{cell_label(sweep.spec.cells()[cell])}, seed {slots[0].seed}")


def _open(sweep: Sweep, run_id: str, label: str) -> None:
    settings.open_run(run_id)
    st.session_state[SWEEP_OPENED_KEY] = (run_id, label)
    st.session_state[SWEEP_RERUN_KEY] = True


def runs_picker(sweep: Sweep, slots: list[Slot]) -> None:
    """The same as a click on a cell, for every run of the sweep: pick one, open it on every view page."""
    runs = {s.run_id: f"{cell_label(sweep.spec.cells()[s.cell])}, seed {s.seed} · "
                      f"{state_of(s.run_id) or sweep.run_state(s.run_id) or 'gone'}"
            for s in slots if s.run_id}
    opened = st.session_state.get(SWEEP_OPENED_KEY)
    if opened and opened[0] == state.current_run_id():
        links = " · ".join(f"[{title}]({page.removeprefix('pages/').removesuffix('.py')}?run={opened[0]})"
                           for page, title in VIEW_PAGES)
        st.success(f"Opened **{opened[1]}** on every view page: {links}", icon=":material/visibility:")
    if not runs:
        return
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    run_id = c1.selectbox("A run of this sweep", list(runs), format_func=runs.get, key=f"sweep_run_{sweep.id}")
    c2.button("Open on every view page", key="sweep_open", icon=":material/visibility:", on_click=_open,
              args=(sweep, run_id, runs[run_id].split(" · ")[0]))
