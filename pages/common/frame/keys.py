"""The app's pages and the session keys more than one module reads: one table, for the frame's navigation
(streamlit_app.py), share links (links.py), the view pages and the tests.

    from pages.common.frame.keys import PAGES, epoch_key
    st.navigation([st.Page(p.script, title=p.title, icon=p.icon, default=p.name == "home") for p in PAGES])
    epoch = st.session_state.get(epoch_key("assignments"))      # "asg_epoch"

No Streamlit here: the tests and the link codec read this table without a UI.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffviz import modes


@dataclass(frozen=True)
class Page:
    name: str  # the URL path and the file's stem (pages/<name>.py); a link names it with page=; Home is served at /
    title: str
    icon: str
    view: str | None = None  # a view page (epoch slider, layer picker): the prefix of its session keys

    @property
    def script(self) -> str:
        return f"pages/{self.name}.py"

    @property
    def url_path(self) -> str:
        """The path Streamlit serves the page at ("" for Home)."""
        return "" if self.name == "home" else self.name


PAGES: tuple[Page, ...] = (
    Page("home", "Home", ":material/home:"),
    Page("train", "Train", ":material/model_training:"),
    Page("assignments", "Assignments", ":material/grid_on:", view="asg"),
    Page("regularizers", "Regularizers", ":material/tune:", view="reg"),
    Page("goodness", "Goodness", ":material/bar_chart:", view="good"),
    Page("contributions", "Layer contributions", ":material/stacked_line_chart:", view="con"),
    Page("runs", "Runs", ":material/folder_open:"),
    Page("compare", "Compare runs", ":material/compare_arrows:"),
    Page("gap", "The gap", ":material/leaderboard:"),
    Page("sweep", "Sweeps", ":material/grid_view:"),
)
PAGE_NAMES: tuple[str, ...] = tuple(p.name for p in PAGES)
VIEW_PAGES: tuple[str, ...] = tuple(p.name for p in PAGES if p.view)  # pages with an epoch slider and a layer
BY_NAME: dict[str, Page] = {p.name: p for p in PAGES}


def epoch_key(page: str) -> str:
    """The session key of a view page's epoch slider (a link's epoch= lands here)."""
    return f"{BY_NAME[page].view}_epoch"


def layer_key(page: str) -> str:
    """The session key of a view page's layer picker (a link's layer= lands here)."""
    return f"{BY_NAME[page].view}_layer"


# Session keys that several modules read or write.
RUN_KEY = "run"  # the current run id ("" = deliberately none); also the query parameter ?run=
RETRAIN_OVERLAY_KEY = "compare_run"  # the previous run, overlaid on the Train page after "Retrain"
COMPARE_RUNS_KEY = "cmp_runs"  # the runs the Compare page shows (a link's compare= on page=compare)
GAP_KEYS = {mode: f"gap_{mode.replace('-', '_')}" for mode in modes.lineage()}  # the Gap page's picker of each mode
SHARE_KEY = "_share"  # the ShareState of the link this session opened with
CFG_PREFIX = "cfg_"  # the Train page's widget of a RunConfig field: cfg_<field>
CFG_READY_KEY = "_cfg_ready"  # the widgets hold the session's settings (set once, on the first load)
RUNS_PICK_KEY = "runs_pick"  # the Runs page's picked run (an upload or the authors' import picks what it added)
RUNS_MSG_KEY = "_runs_msg"  # (kind, text): what a Runs-page action did, shown on the next rerun
GOTO_KEY = "_goto"  # a page to switch to, asked for inside a callback (where switching is not allowed): state.go_to
SWEEP_PICK_KEY = "sweep_pick"  # the Sweep page's picked sweep
SWEEP_NEXT_PICK_KEY = "_sweep_pick_next"  # a sweep just started: the picker takes it on the next rerun
SWEEP_JOIN_KEY = "_sweep_join"  # the sweep this session joined through a class link
SWEEP_MSG_KEY = "_sweep_msg"  # (kind, text): what a Sweep-page action did, shown on the next rerun
FRAME_KEY = "_ffviz_frame"  # set by streamlit_app.py on every run, before the page runs (pages.common.require_frame)
FULL_RERUN_KEY = "_ffviz_full_rerun"  # a fragment asked for its whole page to run again (frame/widgets.py)
TOAST_KEY = "_toast"  # a message the Train page shows once, on its next run
LIVE_SYNCED_KEY = "_live_synced"  # the run whose live values the Train page's live sliders hold
SHARE_APPLIED_KEY = "_share_applied"  # the link this session opened with was applied (once, on its first run)
SHARE_NOTES_KEY = "_share_notes"  # (page path, notes) shown on that page until the user goes elsewhere
SWEEP_OPENED_KEY = "_sweep_opened"  # (run id, label): the sweep cell just opened on every view page
SWEEP_RERUN_KEY = "_sweep_full_rerun"  # the Sweep page's fragment asked for the whole page to run again
