"""The Train page's parts: the arrangement of RunConfig's fields (fields), one widget per field (settings), and the
run controls with the live panel (controls).

May import: ffviz, Streamlit, pages/common/server and frame.
"""
