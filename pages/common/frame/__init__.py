"""The app's frame: the table of pages and session keys (keys), a screen's state as a share link and back (links),
a session's state (its run manager, its current run; where runs live is ffviz/store/places.py), the teacher's hidden
and locked controls (classroom), the widgets every view page uses, and text from outside shown as typed. The sidebar
that draws on all of it is pages/common/sidebar.py.

May import: ffviz, Streamlit and pages/common/server. Never train, share, runs or sweep: they build on this one
(tests/test_layout.py holds pages/common's order: server, frame, train, share, runs, sweep).
"""
