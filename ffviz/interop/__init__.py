"""ffviz and the tools around it: runs out to TensorBoard (tensorboard.py), the authors' own training logs in
(authors_logs.py), and the command-line verbs for both (cli.py). Nothing here is imported by ``import ffviz``."""
