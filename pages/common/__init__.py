"""Helpers shared by the pages: the server's run manager, the session's current run, and the common widgets.

Not a page: the navigation in streamlit_app.py lists the pages explicitly.
"""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from pages.common.frame.keys import FRAME_KEY


def require_frame() -> None:
    """Run the page inside the app's frame (sidebar, navigation, wide layout).

    Streamlit treats an app with a pages/ folder as an old-style multipage app until its main script has called
    st.navigation once, so the very first request to a fresh server for a deep link (``/train?run=...``) would run
    the page script alone. Switch that off and run again, now through streamlit_app.py.
    """
    if not st.session_state.get(FRAME_KEY):
        PagesManager.uses_pages_directory = False
        st.rerun()
