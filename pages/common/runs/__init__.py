"""The Runs page's parts: where runs live (sources), the table and its picker, what can be done with one run,
uploads, the authors' checkpoints, and the pickers of the comparison pages.

May import: ffviz, Streamlit, pages/common/frame, share, train and server.
"""
