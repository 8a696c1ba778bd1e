"""The Sweep page's parts: starting a sweep or a class experiment (sweep_start) and viewing one (sweep_ui).

May import: ffviz, Streamlit, pages/common/server, frame, train, share and runs.
"""
