"""ffviz: Forward-Forward residual CNNs with a learnable channel-class assignment (CAW-Conv), trained live.

The core package: configs, datasets, networks, losses, the trainer, run records and checkpoints. It never imports
Streamlit; the app (streamlit_app.py, pages/) only reads what runs record.
"""

__version__ = "0.1.0"
