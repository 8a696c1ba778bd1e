"""ffviz: Forward-Forward networks with a learnable channel-class assignment, trained live.

    streamlit run streamlit_app.py            # runs go to runs/ (or $FFVIZ_RUNS_DIR)

The frame of the app: page set-up, the shared sidebar (which run every page shows) and the navigation. Each page
is a file in pages/ that reads like a description of its screen; each run trains in a process of its own,
launched by the server's RunManager.
"""

# No torch, no scikit-learn, no pandas here: runs train in processes of their own (ffviz/launcher.py), so the first
# page of a fresh server draws after importing Streamlit, plotly and the run readers only.
import streamlit as st

from ffviz.share import CONTROLS
from pages.common import FRAME_KEY, access_ui, share_ui, sidebar, state

st.set_page_config(page_title="ffviz · Forward-Forward, live", page_icon=":material/neurology:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/assignments.py", title="Assignments", icon=":material/grid_on:"),
    st.Page("pages/regularizers.py", title="Regularizers", icon=":material/tune:"),
    st.Page("pages/goodness.py", title="Goodness", icon=":material/bar_chart:"),
    st.Page("pages/contributions.py", title="Layer contributions", icon=":material/stacked_line_chart:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/folder_open:"),
    st.Page("pages/compare.py", title="Compare runs", icon=":material/compare_arrows:"),
    st.Page("pages/gap.py", title="The gap", icon=":material/leaderboard:"),
    st.Page("pages/sweep.py", title="Sweeps", icon=":material/grid_view:"),
]

access_ui.apply_data_settings(state.REPO)  # where data lives, and downloads: the server's settings, never a page's
page = st.navigation(PAGES, position="sidebar", expanded=True)
st.session_state[FRAME_KEY] = True
share_ui.apply_link(page.url_path)  # a shared link's page, run and settings, before any widget is drawn
state.current_run_id()
state.sync_url()
st.markdown("""<style>
.ffviz-explain { color: #444; font-size: 1.02rem; line-height: 1.45; margin: -0.4rem 0 1.1rem 0; }
[data-testid="stMetricValue"] { font-size: 1.9rem; }
.block-container { padding-top: 2.2rem; }
.stAppDeployButton { display: none; }
</style>""", unsafe_allow_html=True)
with st.sidebar:
    st.markdown("### :material/neurology: ffviz")
    st.caption("Forward-Forward CNNs with a learnable channel–class assignment (CAW-Conv)")
sidebar.render()
share_ui.link_panel(page.url_path)
access_ui.teacher_panel(CONTROLS, share_ui.CONTROL_LABELS)
access_ui.keep_cookie()
share_ui.show_notes(page.url_path)
page.run()
