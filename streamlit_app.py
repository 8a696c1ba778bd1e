"""ffviz: Forward-Forward networks with a learnable channel-class assignment, trained live.

    streamlit run streamlit_app.py            # runs go to runs/ (or $FFVIZ_RUNS_DIR)

The frame of the app: page set-up, the shared sidebar (which run every page shows) and the navigation. Each page
is a file in pages/ that reads like a description of its screen; each run trains in a process of its own,
launched by the server's RunManager.
"""

# No torch, no scikit-learn, no pandas here: runs train in processes of their own (ffviz/runner/launcher.py), so the
# first
# page of a fresh server draws after importing Streamlit, plotly and the run readers only.
from pathlib import Path

import streamlit as st

from ffviz.store import places
from pages.common import FRAME_KEY, sidebar
from pages.common.frame import keys, state
from pages.common.frame.links import CONTROLS
from pages.common.server import access_ui, signin_ui, teacher_ui
from pages.common.share import share_ui

# The page icon is a file of ours: a material-symbol icon here would make every browser fetch it from a font host,
# which an offline classroom cannot reach and which would learn who uses the app (the pages' own icons only draw in
# the sidebar, from the font Streamlit serves itself).
ICON = Path(__file__).resolve().parent / "assets" / "icon.png"
st.set_page_config(page_title="ffviz · Forward-Forward, live", page_icon=str(ICON), layout="wide")

# The pages, from the one table of pages (pages/common/frame/keys.py) that share links and the tests read too.
PAGES = [st.Page(p.script, title=p.title, icon=p.icon, default=p.name == "home") for p in keys.PAGES]

access_ui.apply_data_settings(places.REPO)  # where data lives, and downloads: the server's settings, never a page's
# Sign-in before anything else: school accounts, the proxy's user, the sessions one address (person) may hold. A page
# that does not pass is shown one page, saying why, as the only page of a hidden navigation: no page of pages/ runs.
if (blocked := signin_ui.gate()) is not None:
    st.navigation([st.Page(blocked, title="Sign in", url_path="signin", default=True)], position="hidden").run()
    st.stop()
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
signin_ui.who_box()
teacher_ui.teacher_panel(CONTROLS, share_ui.CONTROL_LABELS)
access_ui.keep_cookie()
share_ui.show_notes(page.url_path)
page.run()
