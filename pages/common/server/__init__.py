"""The server in the app: the session's identity, the teacher's sign-in, the classroom settings and the limits this
session obeys (access_ui).

May import: ffviz and Streamlit; nothing else of pages/common (every other part asks it who this session is).
"""
