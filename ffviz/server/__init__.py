"""The server's policy, without Streamlit: who may do what, what a run may cost, how long it will take here.

    check_run(cfg, limits, owner_active=1, queued=3)       # ffviz/server/limits.py: or LimitError
    can_steer(me, meta)                                    # ffviz/server/access.py: its owner or the teacher

access, limits, estimate (how long a run will take here), upload_process (an upload checked in a process
of its own). Never imports torch on the page path (tests/test_page_imports.py).

May import: ffviz.store, ffviz.runner, ffviz.method's torch-free arithmetic (architecture), ffviz.data's registry
and the top-level vocabulary. Never pages or Streamlit (tests/test_layout.py, ruff's banned-api rule).
"""
