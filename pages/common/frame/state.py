"""Where a session's state lives: one RunManager per server, the current run per session; a run's reader is the
store's, shared by every session (ffviz/store/places.py).

A run's state always comes from its folder (ffviz/store/runstate.py): the server launches runs as processes and keeps
nothing about them that a restart would lose.

The current run is kept in ``st.session_state["run"]`` and mirrored into the URL (``?run=<run id>``), so a tab
closed and reopened on the same URL finds the same run; a session with neither opens the most recent run.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ffviz.config import RunConfig
from ffviz.recipes import CLASSROOM, recipe_config
from ffviz.runner.launcher import max_running_setting
from ffviz.runner.manager import RunManager
from ffviz.server.leftovers import sweep_leftovers
from ffviz.server.trim import start_trimmer
from ffviz.store import places
from ffviz.store.folder import ACTIVE, RunFolder
from ffviz.store.retention import enforce_retention, retention_limit
from ffviz.store.runs import RunReader, list_runs, owner_of
from ffviz.store.runstate import read_meta, run_state
from ffviz.store.storage import read_json
from pages.common import require_frame
from pages.common.frame.keys import GOTO_KEY, RETRAIN_OVERLAY_KEY, RUN_KEY
from pages.common.server import access_ui


@st.cache_resource(show_spinner=False)
def _manager(root: str) -> RunManager:
    # Once per server start: what a killed server left (staging folders, temporary copies, downloads) goes.
    sweep_leftovers([Path(root), places.uploaded_root()])
    sweep_leftovers([places.REPO / "static" / "dl"], prefixes=("",))
    start_trimmer()  # the allocator's free pages go back to the system (ffviz/server/trim.py)
    return RunManager(root, max_running=max_running_setting()[0])


def manager() -> RunManager:
    """The server's one RunManager (per runs folder): it launches each run as a process and starts the queue."""
    return _manager(str(places.runs_root()))


def root() -> Path:
    return places.runs_root()


def live(run_id: str | None) -> RunReader | None:
    """The shared reader of a run in the runs folder, its uploads or the shipped runs, refreshed (only new lines are
    read); None when there is no such run."""
    return places.open_run(run_id)


def status(run_id: str | None, meta: dict | None = None) -> str:
    """The run's state, from its folder (ffviz/store/runstate.py); "" when there is no such run."""
    path = places.find_run(run_id)
    return run_state(path, meta) if path is not None else ""


def is_managed_active(run_id: str | None) -> bool:
    """True when the run is in this server's runs folder and may still change (so it can be steered)."""
    path = places.find_run(run_id)
    return path is not None and path.parent == root() and run_state(path) in ACTIVE


def run_ids() -> list[str]:
    """The runs folder's runs, newest first (a fresh session opens the first; shipped runs are opened by choice)."""
    return [p.name for p in list_runs(root())]


def current_run_id() -> str | None:
    """The session's run; on a fresh session, the URL's ``?run=``, else its own newest run, else the newest shipped
    run of the Train page's recipe (first_run)."""
    require_frame()
    ss = st.session_state
    if RUN_KEY not in ss:
        wanted = st.query_params.get(RUN_KEY)
        ss[RUN_KEY] = wanted if places.find_run(wanted) else first_run(access_ui.identity().token)
    return ss[RUN_KEY] or None


def first_run(token: str) -> str:
    """What a new tab opens without a link: the newest run this browser's session owns, else the newest run no
    session owns (trained on the server with the CLI or a notebook: the machine owner's); never another student's run
    (on a classroom server a new tab landed on a classmate's sweep cell, its settings loaded into the form). "" when
    there is none: the view pages then show the newest shipped run of the Train page's recipe (latest_finished)."""
    ownerless = ""
    for run_dir in list_runs(root()):  # newest first
        owner = owner_of(read_meta(run_dir))
        if owner == token:
            return run_dir.name
        if owner is None and not ownerless:
            ownerless = run_dir.name
    return ownerless


def shipped_recipe_run() -> str | None:
    """The newest shipped run of the Train page's recipe (the classroom recipe's dataset, network and mode), else the
    newest shipped run."""
    recipe = recipe_config(CLASSROOM)
    shipped = list_runs(places.shipped_root())
    for run_dir in shipped:
        try:
            cfg = RunConfig.from_dict(read_json(RunFolder(run_dir).config))
        except (OSError, ValueError, TypeError):
            continue
        if (cfg.dataset, cfg.preset, cfg.mode) == (recipe.dataset, recipe.preset, recipe.mode):
            return run_dir.name
    return shipped[0].name if shipped else None


def set_current_run(run_id: str | None) -> None:
    st.session_state[RUN_KEY] = run_id or ""
    sync_url()


def sync_url() -> None:
    """Mirror the current run into the URL (it is dropped on page switches; this puts it back)."""
    run_id = st.session_state.get(RUN_KEY) or None
    if run_id and st.query_params.get(RUN_KEY) != run_id:
        st.query_params[RUN_KEY] = run_id
    elif not run_id and RUN_KEY in st.query_params:
        del st.query_params[RUN_KEY]


def submit(cfg: RunConfig, *, compare_with: str | None = None) -> str | None:
    """Start a run with this config, owned by this session, and make it the session's current run; ``compare_with``
    is overlaid on it. None when the server's limits refuse it (the page shows why, see access_ui.show_denied)."""
    with access_ui.ADMISSION:  # checked and submitted as one: two Starts at once cannot both take the last place
        if not access_ui.check_submit(cfg, manager().active()):
            return None
        run_id = manager().submit(cfg, owner=access_ui.identity().token, meta=access_ui.run_meta())
    st.session_state[RETRAIN_OVERLAY_KEY] = compare_with
    set_current_run(run_id)
    keep_bounded(root())
    return run_id


def keep_bounded(folder: Path) -> None:
    """Apply the retention policy (ffviz.store.retention) to a runs or uploads folder after this session added a run to
    it: as many of this session's runs as it keeps (the teacher's: the runs without an owner); uploads also within the
    disk the server's limits give one session's uploads. Only this session's own runs are counted and deleted, so
    no one's run goes because someone else started or uploaded a hundred (the runs folder's disk limits refuse new
    runs instead). Shipped runs live elsewhere and are never touched."""
    limit, _ = retention_limit()
    uploads = Path(folder) == places.uploaded_root()
    # never an active run: their folders say so. The teacher's runs from the app are owned by the teacher's token
    # too; the command line's (no owner) are never deleted by the app.
    enforce_retention(folder, max_runs=limit, max_bytes=access_ui.limits().max_uploads_bytes if uploads else None,
                      owner=access_ui.identity().token)


def refresh_every(state: str) -> float | None:
    """The live pages poll once a second while a run may still write, and not at all once it is over."""
    return 1.0 if state in ACTIVE else None


def latest_finished() -> str | None:
    """A finished run to show a session that has none of its own (view pages, Home's "Open a finished run"): the
    newest finished run it owns or no session owns, else the newest shipped run of the Train page's recipe. Never
    another session's run."""
    token = access_ui.identity().token
    for p in list_runs(root()):
        meta = read_meta(p)
        if meta.get("status") == "finished" and owner_of(meta) in (None, token):
            return p.name
    return shipped_recipe_run()


def go_to(page: str) -> None:
    """Ask for another page from inside a widget's callback (where st.switch_page is not allowed): the page that
    drew the widget goes there on its rerun (`go_to_if_asked`), with the current run in the URL."""
    st.session_state[GOTO_KEY] = page


def go_to_if_asked() -> None:
    """Where a callback asked for another page (`go_to`): go there now, the current run in the URL."""
    if page := st.session_state.pop(GOTO_KEY, None):
        st.switch_page(page, query_params={RUN_KEY: current_run_id() or ""})
