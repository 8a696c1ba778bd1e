"""ffviz: Forward-Forward residual CNNs with a learnable channel-class assignment (CAW-Conv), trained live.

The core package: configs, datasets, networks, losses, the trainer, run records and checkpoints. It never imports
Streamlit; the app (streamlit_app.py, pages/) only reads what runs record.

    run = ffviz.open_run("runs/<run folder>")     # in a notebook: the pages' figures (ffviz/api.py)
    run.figure("assignments", layer=4, epoch=10)
"""

import os as _os

# PyTorch's CPU threads spin while they wait for work (OpenMP's default active wait policy). On a small machine
# shared with a Streamlit server, other runs or other processes, spinning threads steal each other's cores and a
# step can take 50x longer (measured: 37 ms -> 3 s per step on 2 busy cores). Passive waiting costs next to
# nothing when the machine is idle. It must be set before torch is first imported, which is why it lives here.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"


def __getattr__(name: str):
    # open_run is imported on first use: `import ffviz` stays light (no torch or plotly until a run is opened).
    if name == "open_run":
        from ffviz.api import open_run

        return open_run
    raise AttributeError(f"module 'ffviz' has no attribute {name!r}")
