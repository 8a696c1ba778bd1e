"""Share links in the app (share_ui): the link a session opened with, read once into the widgets' state; the link
of the screen being shown. The link's codec and its hidden and locked controls are the frame's (frame/links.py,
frame/classroom.py).

May import: ffviz, Streamlit, pages/common/server, frame and train.
"""
