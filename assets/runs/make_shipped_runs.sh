#!/usr/bin/env bash
# Trains the runs that ship with ffviz (so browsing and comparing work on first start), with the CLI, on the
# built-in digits and the classroom recipe. Run from the repository root: bash assets/runs/make_shipped_runs.sh
#
# The Gap page's set: the four modes of the lineage (original FF, static partition, learnable assignment, backprop),
# each at seeds 1, 2 and 3 of the same shape (the classroom recipe, the shape bench/lineage_study.py picks for
# teaching: bench/REPORT.md, "lineage"). Seed 1 of each mode is a full run (200 probe images, 50 for original FF, and
# the final checkpoint, so it can be continued); seeds 2 and 3 keep 20 probe images and no checkpoint, to keep the set
# small on disk.
set -euo pipefail
out=assets/runs
common=(--recipe classroom --device cpu --runs-dir "$out" --no-progress)
light=(--probe-size 20)
for seed in 3 2; do
  python -m ffviz train "${common[@]}" "${light[@]}" --seed $seed --name "original FF, seed $seed" --mode original-ff
  python -m ffviz train "${common[@]}" "${light[@]}" --seed $seed --name "backprop, seed $seed" --mode backprop
  python -m ffviz train "${common[@]}" "${light[@]}" --seed $seed --name "static partition, seed $seed" --mode static
  python -m ffviz train "${common[@]}" "${light[@]}" --seed $seed --name "learnable (default lambdas), seed $seed"
done
# original FF's MLP has 600 units, whose per-image goodness the probes keep: 50 probe images keep it small
python -m ffviz train "${common[@]}" --seed 1 --name "original FF" --mode original-ff --probe-size 50
python -m ffviz train "${common[@]}" --seed 1 --name "backprop" --mode backprop
python -m ffviz train "${common[@]}" --seed 1 --name "static partition" --mode static
python -m ffviz train "${common[@]}" --seed 1 --name "learnable, strong orthogonality" --lambda-orth 0.1 \
  --orth-warmup-epochs 0
python -m ffviz train "${common[@]}" --seed 1 --name "learnable, no entropy" --lambda-entropy 0
# The method's own run last: it is the newest, so it is what a new user's first view page shows.
python -m ffviz train "${common[@]}" --seed 1 --name "learnable (default lambdas)"
# The final checkpoint is enough to browse, compare and continue a run; last.pt duplicates it.
rm -f "$out"/*/checkpoints/last.pt
# The extra seeds are for the spread on the Gap and Compare pages; they are not meant to be continued.
for d in "$out"/*; do
  if [[ -d "$d" ]] && grep -q '"name": ".*, seed [0-9]*"' "$d/meta.json"; then rm -rf "$d/checkpoints"; fi
done
# A run's heartbeat is its process's, on the machine that trained it: a shipped run has none.
rm -f "$out"/*/heartbeat.json
