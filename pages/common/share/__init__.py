"""Share links: a screen's state as URL parameters and back (links), reading and building them in the app
(share_ui), and the teacher's hidden and locked controls they carry (classroom).

May import: ffviz, Streamlit, pages/common/frame and pages/common/train's field arrangement (fields).
"""
