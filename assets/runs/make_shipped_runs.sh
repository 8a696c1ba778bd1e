#!/usr/bin/env bash
# Trains the runs that ship with ffviz (so browsing and comparing work on first start), with the CLI, on the
# built-in digits and the classroom recipe. Run from the repository root: bash assets/runs/make_shipped_runs.sh
set -euo pipefail
out=assets/runs
common=(--recipe classroom --device cpu --seed 1 --runs-dir "$out" --no-progress)
# The method's own run last: it is the newest, so it is what a new user's first view page shows.
python -m ffviz train "${common[@]}" --name "backprop" --mode backprop
python -m ffviz train "${common[@]}" --name "static partition" --mode static
python -m ffviz train "${common[@]}" --name "learnable, strong orthogonality" --lambda-orth 0.1 --orth-warmup-epochs 0
python -m ffviz train "${common[@]}" --name "learnable, no entropy" --lambda-entropy 0
python -m ffviz train "${common[@]}" --name "learnable (default lambdas)"
# The final checkpoint is enough to browse, compare and continue a run; last.pt duplicates it.
rm -f "$out"/*/checkpoints/last.pt
# A run's heartbeat is its process's, on the machine that trained it: a shipped run has none.
rm -f "$out"/*/heartbeat.json
