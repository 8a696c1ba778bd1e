"""The Sweep page's parts: pick a sweep, its heatmaps (filling in while runs finish, a click opens a cell's run),
the form that starts a sweep or a class experiment, and a student's own cell in a class experiment.

A class experiment's link is ``/sweep?sweep=<id>&join=1``. The session that opens it holds a token; the sweep hands it
the next free (cell, seed) on disk (ffviz.sweep.Sweep.claim) and keeps the claim alive while the page is open.
"""

from __future__ import annotations

import streamlit as st

from ffviz.catalog import folder_size
from ffviz.config import RunConfig
from ffviz.config import label as field_label
from ffviz.figures.sweep import METRICS, summarize_cells, sweep_heatmap
from ffviz.limits import LimitError, check_run
from ffviz.presets import PRESETS
from ffviz.recipes import RECIPES, recipe_config
from ffviz.runs import list_runs
from ffviz.sweep import (
    MAX_SWEEP_RUNS,
    Slot,
    Sweep,
    SweepError,
    SweepSpec,
    cell_label,
    describe,
    find_sweep,
    launch,
    list_sweeps,
    outcomes,
    parse_axis,
    parse_seeds,
)
from ffviz.ui_state import ACTIVE
from pages.common import access_ui, settings, share_ui, state
from pages.common.keys import RETRAIN_OVERLAY_KEY
from pages.common.widgets import explain, plot

PICK_KEY = "sweep_pick"
NEXT_PICK_KEY = "_sweep_pick_next"
JOIN_KEY = "_sweep_join"  # the sweep this session joined through a class link
MSG_KEY = "_sweep_msg"
OPENED_KEY = "_sweep_opened"
RERUN_KEY = "_sweep_full_rerun"
# A sweep started from the app trains on this server: the runs of one sweep, and its epochs, are bounded here (a
# server-wide limits module would own these numbers; until there is one they live here).
APP_MAX_EPOCHS = 50
REFRESH_S = 2.0
VIEW_PAGES = (("pages/assignments.py", "Assignments"), ("pages/regularizers.py", "Regularizers"),
              ("pages/goodness.py", "Goodness"), ("pages/contributions.py", "Layer contributions"))
# Settings worth sweeping from the page (any RunConfig field works from the CLI).
SWEEPABLE = ("lambda_entropy", "lambda_orth", "temperature", "lr", "mode", "orth_scaling", "dropout", "batch_size",
             "temp_decay", "label_smoothing", "contribution_signal", "preset")
NO_AXIS = "(none)"


def token() -> str:
    """This browser's identity (its session cookie, ffviz.access): a claim survives a reload, as the run does."""
    return access_ui.identity().token


class _SessionLauncher:
    """The server's manager, acting for this session: the runs it starts are owned by the session and, for a
    student, within the server's limits (access_ui.check_submit), as a run from the Train page."""

    def __init__(self, *, check_limits: bool) -> None:
        self.root = state.manager().root
        self.check_limits = check_limits

    def submit(self, cfg: RunConfig, *, name: str | None = None) -> str:
        if self.check_limits and not access_ui.check_submit(cfg, state.manager().active()):
            raise ValueError(st.session_state.pop(access_ui.DENIED_KEY, "beyond this server's limits"))
        return state.manager().submit(cfg, name=name, owner=token())

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        return state.manager().wait(run_id, timeout)


def _beyond_limits(spec: SweepSpec) -> str | None:
    """Why a teacher's sweep cannot start (each cell's network, image size, epochs and the disk against the
    server's limits; the queue and the per-session count are the teacher's to fill), or None."""
    used = sum(folder_size(p) for p in list_runs(state.root()))
    for cell in range(len(spec.cells())):
        try:
            check_run(spec.config(cell, spec.seeds[0]), access_ui.limits(), runs_bytes=used)
        except LimitError as e:
            return f"cell {cell_label(spec.cells()[cell])}: {e}"
    return None


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
        st.error(text, icon=":material/error:")
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
def _state_of(run_id: str) -> str | None:
    info = state.manager().info(run_id)
    return info.state if info is not None else None


@st.cache_resource(show_spinner=False)
def _tagged() -> set[str]:
    """Runs whose meta.json carries their sweep already (shared by the server's sessions, so polls skip them)."""
    return set()


def _read(run_dir):
    lr = state.live(run_dir.name)
    return None if lr is None else lr.reader


def grid(sweep: Sweep) -> None:
    """The four heatmaps, in a fragment that follows the runs every couple of seconds until all have ended."""

    following = _unfinished(sweep)

    @st.fragment(run_every=REFRESH_S if following else None)
    def heatmaps() -> None:
        if st.session_state.get(JOIN_KEY) == sweep.id:
            sweep.renew(token())  # the student is still here: their claim's lease goes on
        slots = sweep.slots()  # read once per refresh: every part below works from this one reading
        sweep.tag_ended_runs(slots, skip=_tagged())
        cells = summarize_cells(len(sweep.spec.cells()), outcomes(sweep, read=_read, state_of=_state_of, slots=slots))
        seeds = len(sweep.spec.seeds)
        runs = sum(c.runs for c in cells)
        done = sum(c.finished for c in cells)
        active = sum(c.active for c in cells)
        st.markdown(f"**{done} of {sweep.spec.num_runs} runs finished** · {active} training or queued · "
                    f"{sweep.spec.num_runs - runs} not started", help="Each cell fills in when one of its seeds has "
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
        if (following and not _unfinished(sweep, slots)) or st.session_state.pop(RERUN_KEY, False):
            # the last run just ended (one full rerun draws the page without the timer), or a run was opened (the
            # sidebar shows the session's run: it must follow)
            st.rerun()

    heatmaps()


def _unfinished(sweep: Sweep, slots: list[Slot] | None = None) -> bool:
    """True while a slot may still change: a run not ended, or (in a class experiment) a slot not yet taken."""
    for slot in sweep.slots() if slots is None else slots:
        if slot.run_id is None:
            return True  # a class experiment's slot no one has trained yet
        if (_state_of(slot.run_id) or sweep.run_state(slot.run_id)) in ACTIVE:
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
    st.session_state[OPENED_KEY] = (run_id, label)
    st.session_state[RERUN_KEY] = True


def runs_picker(sweep: Sweep, slots: list[Slot]) -> None:
    """The same as a click on a cell, for every run of the sweep: pick one, open it on every view page."""
    runs = {s.run_id: f"{cell_label(sweep.spec.cells()[s.cell])}, seed {s.seed} · "
                      f"{_state_of(s.run_id) or sweep.run_state(s.run_id) or 'gone'}"
            for s in slots if s.run_id}
    opened = st.session_state.get(OPENED_KEY)
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


# ----------------------------------------------------------------------------------------------------- a student
def my_cell(sweep: Sweep) -> None:
    """A class experiment, as a student sees it: the cell this session holds, and the button that trains it."""
    with st.container(border=True):
        st.markdown(f"#### :material/school: Class experiment: {sweep.spec.name}")
        slot = sweep.claim(token())
        if slot is None:
            st.info("Every cell of this experiment is taken. Watch the grid below fill in as your classmates' runs "
                    "finish.", icon=":material/hourglass:")
            return
        values = cell_label(sweep.spec.cells()[slot.cell])
        st.markdown(f"Your cell: **{values}**, seed **{slot.seed}**")
        if slot.run_id is None:
            st.button("Train my cell", type="primary", icon=":material/play_arrow:", key="sweep_train_mine",
                      on_click=_train_mine, args=(sweep,))
            st.caption("It trains on the server as a normal run: watch it on every page; the grid below fills in "
                       "when it finishes. Leave this page without training and the cell goes to someone else.")
        else:
            run_state = _state_of(slot.run_id) or sweep.run_state(slot.run_id) or "gone"
            st.markdown(f"Your run `{slot.run_id}` is **{run_state}**.")


def _train_mine(sweep: Sweep) -> None:
    slot = sweep.claim(token())
    if slot is None or slot.run_id:
        return
    try:
        run_id = sweep.start_slot(slot, _SessionLauncher(check_limits=True))
    except (ValueError, OSError) as e:
        st.session_state[MSG_KEY] = ("error", f"Could not start your run: {e}")
        return
    state.set_current_run(run_id)  # the student's own run, on every view page
    st.session_state[RETRAIN_OVERLAY_KEY] = None
    settings.load(sweep.spec.config(slot.cell, slot.seed))
    state.keep_bounded(state.root())


# ----------------------------------------------------------------------------------------------------- starting
def start_form() -> None:
    """A sweep from the app: a recipe, the swept settings, the seeds; every run now, or a class experiment's link."""
    label = field_label
    with st.form("sweep_form", border=False):
        c = st.columns([1.2, 1.2, 0.8, 1.4])
        recipe = c[0].selectbox("Start from recipe", ["classroom", *[r for r in RECIPES if r != "classroom"]],
                                key="sweep_recipe")
        preset = c[1].selectbox("Network preset", ["(recipe's)", *PRESETS], key="sweep_preset")
        epochs = c[2].number_input("Epochs", 1, APP_MAX_EPOCHS, 5, key="sweep_epochs")
        name = c[3].text_input("Name", "class sweep", key="sweep_name", max_chars=40)
        a = st.columns([1, 2, 1, 2])
        f1 = a[0].selectbox("Rows: setting", SWEEPABLE, key="sweep_f1", format_func=label)
        v1 = a[1].text_input("its values", "0, 0.01, 0.1", key="sweep_v1", help="Comma-separated.")
        f2 = a[2].selectbox("Columns: setting", [NO_AXIS, *SWEEPABLE], index=2, key="sweep_f2",
                            format_func=lambda n: n if n == NO_AXIS else label(n))
        v2 = a[3].text_input("its values", "0, 0.001, 0.1", key="sweep_v2")
        seeds = st.text_input("Seeds", "1, 2", key="sweep_seeds", help="Every cell trains once per seed.")
        st.caption(f"At most {MAX_SWEEP_RUNS} runs (cells × seeds) and {APP_MAX_EPOCHS} epochs per sweep on this "
                   f"server; {state.manager().max_running} train at a time, the rest wait in the queue.")
        b = st.columns([1, 1, 2])
        teacher = access_ui.identity().teacher
        now = b[0].form_submit_button("Start every run now", icon=":material/play_arrow:", disabled=not teacher)
        klass = b[1].form_submit_button("Make a class link", icon=":material/school:", type="primary",
                                        disabled=not teacher)
        if not teacher:
            b[2].caption("Sweeps and class experiments are the teacher's to start (signed in, in the sidebar).")
    if not (now or klass):
        return
    try:
        base = recipe_config(recipe, epochs=int(epochs), **({} if preset == "(recipe's)" else {"preset": preset}))
        axes = [parse_axis(f"{f1}={v1}")] + ([parse_axis(f"{f2}={v2}")] if f2 != NO_AXIS else [])
        spec = SweepSpec(base=base, axes=tuple(axes), seeds=parse_seeds(seeds), name=name.strip() or "sweep")
    except (SweepError, ValueError) as e:
        st.error(f"This sweep cannot start: {e}", icon=":material/error:")
        return
    if not access_ui.identity().teacher:  # the form is disabled for students; a forged click is refused too
        st.error("Sweeps and class experiments are started by the teacher.", icon=":material/block:")
        return
    if now and (why := _beyond_limits(spec)):
        st.error(f"This sweep cannot start: {why}", icon=":material/block:")
        return
    sweep = Sweep.create(state.root(), spec, kind="class" if klass else "launched")
    if now:
        launch(sweep, _SessionLauncher(check_limits=False))
        state.keep_bounded(state.root())
        st.session_state[MSG_KEY] = ("success", f"Started {spec.num_runs} runs of {spec.name}: the grid fills in as "
                                                f"they finish.")
    else:
        st.session_state[MSG_KEY] = ("success", f"Class experiment {spec.name} is ready: send the link below.")
    st.session_state[NEXT_PICK_KEY] = sweep.id  # the picker is drawn already: it takes this on the rerun
    st.rerun()


def class_link(sweep: Sweep) -> None:
    """The link students open to take a cell each (shown to whoever did not join through it)."""
    if sweep.kind != "class" or st.session_state.get(JOIN_KEY):
        return
    url = f"{share_ui.base_url('sweep')}/sweep?sweep={sweep.id}&join=1"
    st.markdown("**Class link**: each student who opens it gets the next cell no one has taken and trains it.")
    st.code(url, language=None, wrap_lines=True)
