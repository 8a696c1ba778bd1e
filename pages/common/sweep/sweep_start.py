"""Starting sweeps from the Sweep page: the form that starts a sweep or a class experiment, its class link, and a
student's own cell in a class experiment.

A class experiment's link is ``/sweep?sweep=<id>&join=1``. The session that opens it holds a token; the sweep hands it
the next free (cell, seed) on disk (ffviz/runner/sweep_leases.py) and keeps the claim alive while the page is open.
"""

from __future__ import annotations

import streamlit as st

from ffviz import regularizers
from ffviz.config import RunConfig
from ffviz.config import label as field_label
from ffviz.presets import PRESETS
from ffviz.recipes import RECIPES, recipe_config
from ffviz.runner.sweep_spec import MAX_SWEEP_RUNS, SweepError, SweepSpec, cell_label, parse_axis, parse_seeds
from ffviz.runner.sweep_store import Sweep, find_sweep, launch
from ffviz.server.limits import LimitError, check_run
from ffviz.store.catalog import folder_size
from ffviz.store.runs import list_runs
from pages.common.frame import state
from pages.common.frame.keys import RETRAIN_OVERLAY_KEY
from pages.common.frame.keys import SWEEP_JOIN_KEY as JOIN_KEY
from pages.common.frame.keys import SWEEP_MSG_KEY as MSG_KEY
from pages.common.frame.keys import SWEEP_NEXT_PICK_KEY as NEXT_PICK_KEY
from pages.common.server import access_ui
from pages.common.share import share_ui
from pages.common.sweep.sweep_ui import state_of, token
from pages.common.train import settings

# Settings worth sweeping from the page (any RunConfig field works from the CLI): every regularizer's weight, in the
# registry's order, then these.
SWEEPABLE = (*regularizers.weight_fields().values(), "temperature", "lr", "mode", "orth_scaling", "dropout",
             "batch_size", "temp_decay", "label_smoothing", "contribution_signal", "preset")
NO_AXIS = "(none)"


class _SessionLauncher:
    """The server's manager, acting for this session: the runs it starts are owned by the session and, for a
    student, within the server's limits (access_ui.check_submit), as a run from the Train page."""

    def __init__(self, *, check_limits: bool) -> None:
        self.root = state.manager().root
        self.check_limits = check_limits

    def submit(self, cfg: RunConfig, *, name: str | None = None, meta: dict | None = None) -> str:
        with access_ui.ADMISSION:  # checked and submitted as one (see state.submit)
            if self.check_limits and not access_ui.check_submit(cfg, state.manager().active()):
                raise ValueError(st.session_state.pop(access_ui.DENIED_KEY, "beyond this server's limits"))
            return state.manager().submit(cfg, name=name, owner=token(),
                                          meta={**access_ui.run_meta(), **(meta or {})})

    def cancel(self, run_id: str) -> None:
        state.manager().cancel(run_id)

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


# ----------------------------------------------------------------------------------------------------- a student
def my_cell(sweep: Sweep) -> None:
    """A class experiment, as a student sees it: the cell this session holds, and the button that trains it."""
    with st.container(border=True):
        st.markdown(f"#### :material/school: Class experiment: {sweep.spec.name}")
        slot = sweep.claim(token(), client=access_ui.client_address(),
                           per_client=access_ui.limits().max_cells_per_client)
        if slot is None and sweep.client_share_taken(access_ui.client_address(),
                                                     access_ui.limits().max_cells_per_client):
            who = "Your account" if access_ui.identity().person else "Your address"  # per person where one is known
            st.info(f"{who} already holds {access_ui.limits().max_cells_per_client} cell(s) of this experiment "
                    "(this server's limit max_cells_per_client): the others are for your classmates.",
                    icon=":material/hourglass:")
            return
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
            run_state = state_of(slot.run_id) or sweep.run_state(slot.run_id) or "gone"
            st.markdown(f"Your run `{slot.run_id}` is **{run_state}**.")


def _train_mine(sweep: Sweep) -> None:
    slot = sweep.claim(token(), client=access_ui.client_address(), per_client=access_ui.limits().max_cells_per_client)
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
    # enter_to_submit=False: Enter in a field (the name, the values) starts nothing; only a click on a button does.
    with st.form("sweep_form", border=False, enter_to_submit=False):
        c = st.columns([1.2, 1.2, 0.8, 1.4])
        recipe = c[0].selectbox("Start from recipe", ["classroom", *[r for r in RECIPES if r != "classroom"]],
                                key="sweep_recipe")
        preset = c[1].selectbox("Network preset", ["(recipe's)", *PRESETS], key="sweep_preset")
        max_epochs = min(access_ui.limits().max_sweep_epochs, access_ui.limits().max_epochs)
        epochs = c[2].number_input("Epochs", 1, max_epochs, min(5, max_epochs), key="sweep_epochs")
        name = c[3].text_input("Name", "class sweep", key="sweep_name", max_chars=40)
        a = st.columns([1, 2, 1, 2])
        f1 = a[0].selectbox("Rows: setting", SWEEPABLE, key="sweep_f1", format_func=label)
        v1 = a[1].text_input("its values", "0, 0.01, 0.1", key="sweep_v1", help="Comma-separated.")
        f2 = a[2].selectbox("Columns: setting", [NO_AXIS, *SWEEPABLE], index=2, key="sweep_f2",
                            format_func=lambda n: n if n == NO_AXIS else label(n))
        v2 = a[3].text_input("its values", "0, 0.001, 0.1", key="sweep_v2")
        seeds = st.text_input("Seeds", "1, 2", key="sweep_seeds", help="Every cell trains once per seed.")
        share = access_ui.limits().max_sweep_running
        st.caption(f"At most {MAX_SWEEP_RUNS} runs (cells × seeds) and {max_epochs} epochs per sweep on this "
                   f"server. A sweep's runs wait in a queue of their own: {share} of them train at a time (the limit "
                   f"max_sweep_running), and everyone's Starts go ahead of them.")
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
    sweep = Sweep.create(state.root(), spec, kind="class" if klass else "launched", owner=token())
    if now:
        state.manager().sweep_share = access_ui.limits().max_sweep_running
        launch(sweep, _SessionLauncher(check_limits=False))
        state.keep_bounded(state.root())
        st.session_state[MSG_KEY] = ("success", f"Started {spec.num_runs} runs of {spec.name}: the grid fills in as "
                                                f"they finish.")
    else:
        st.session_state[MSG_KEY] = ("success", f"Class experiment {spec.name} is ready: send the link below.")
    st.session_state[NEXT_PICK_KEY] = sweep.id  # the picker is drawn already: it takes this on the rerun
    st.rerun()


def cancel_control(sweep: Sweep) -> None:
    """Cancel, for the sweep's owner or the teacher, while any of its runs may still train."""
    who = access_ui.identity()
    if sweep.cancelled or not (who.teacher or (sweep.owner is not None and sweep.owner == who.token)):
        return
    slots = sweep.slots()
    if not any(s.run_id and (state_of(s.run_id) or sweep.run_state(s.run_id)) in ("queued", "starting", "running",
                                                                                    "paused") for s in slots):
        return
    st.button("Cancel this sweep", icon=":material/cancel:", key=f"sweep_cancel_{sweep.id}", on_click=_cancel,
              args=(sweep.id,), help="Its queued runs leave the queue at once and its running ones stop at their "
              "next batch; the grid keeps what finished.")


def _cancel(sweep_id: str) -> None:
    sweep = find_sweep(state.root(), sweep_id)
    who = access_ui.identity()
    if sweep is None or not (who.teacher or (sweep.owner is not None and sweep.owner == who.token)):
        st.session_state[MSG_KEY] = ("error", "Only the sweep's owner or the teacher can cancel it.")
        return
    stopped = sweep.cancel(_SessionLauncher(check_limits=False))
    st.session_state[MSG_KEY] = ("success", f"Cancelled {sweep.spec.name}: {len(stopped)} run(s) stopped or taken "
                                            "out of the queue. The grid keeps what finished.")


def class_link(sweep: Sweep) -> None:
    """The link students open to take a cell each (shown to whoever did not join through it)."""
    if sweep.kind != "class" or st.session_state.get(JOIN_KEY):
        return
    url = f"{share_ui.base_url('sweep')}/sweep?sweep={sweep.id}&join=1"
    st.markdown("**Class link**: each student who opens it gets the next cell no one has taken and trains it.")
    st.code(url, language=None, wrap_lines=True)
