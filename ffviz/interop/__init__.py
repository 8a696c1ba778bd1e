"""ffviz and the tools around it: runs out to TensorBoard (tensorboard.py), the authors' own work in: their
checkpoint (authors_checkpoint.py) and their training logs (authors_logs.py), and the command-line verbs (cli.py).
Nothing here is imported by ``import ffviz``."""
