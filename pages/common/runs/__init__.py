"""The Runs page's parts: the table and its picker, what can be done with one run, uploads, the authors'
checkpoints, and the pickers of the comparison pages. Where runs live is ffviz/store/places.py.

May import: ffviz, Streamlit, pages/common/server, frame, train and share.
"""
