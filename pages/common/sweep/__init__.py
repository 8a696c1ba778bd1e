"""The Sweep page's parts: starting a sweep or a class experiment (sweep_start) and viewing one (sweep_ui).

May import: ffviz, Streamlit, pages/common/frame, share, train and server.
"""
