"""ffviz: Forward-Forward residual CNNs with a learnable channel-class assignment (CAW-Conv), trained live.

The core package: configs, datasets, networks, losses, the trainer, run records and checkpoints. It never imports
Streamlit; the app (streamlit_app.py, pages/) only reads what runs record.

    run = ffviz.open_run("runs/<run folder>")     # in a notebook: the pages' figures (ffviz/api.py)
    run.figure("assignments", layer=4, epoch=10)
"""

# How PyTorch's CPU threads wait between operations is decided per run, before torch loads, by ffviz/runner/threads.py
# (``python -m ffviz`` applies it). Importing ffviz sets nothing: a notebook or script keeps PyTorch's own defaults.

__version__ = "0.1.0"


def __getattr__(name: str):
    # open_run is imported on first use: `import ffviz` stays light (no torch or plotly until a run is opened).
    if name == "open_run":
        from ffviz.api import open_run

        return open_run
    raise AttributeError(f"module 'ffviz' has no attribute {name!r}")
