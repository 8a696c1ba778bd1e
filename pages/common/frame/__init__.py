"""The app's frame: the table of pages and session keys, a session's state (its run manager, its current run), the
sidebar, the widgets every view page uses, and text from outside shown as typed.

May import: ffviz and Streamlit. Never another folder of pages/common (everything else builds on this one).
"""
