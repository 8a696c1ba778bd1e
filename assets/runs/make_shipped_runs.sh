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
# The Gap page's first section: static against the learnable assignment with the paper's start and with each
# labelled departure from it (random A 0.5, A from the static partition 2, a fixed T of 1), seeds 1-3, on three cells
# of bench/pairs_study.py: the classroom digits (the recipe, 10 epochs) and digit pairs of 25 and 100 classes (4
# epochs = 500 steps each). These go first so that the lineage's learnable run below stays the newest. The committed
# ones were copied from the study's run folders (the same commands, --threads 1; their folder names dated before the
# lineage's, their meta.json's "created" the real time), then thinned as below to keep assets/runs under 40 MB.
starts=("static:--mode static" "paper:--mode learnable" "random-A-0.5:--mode learnable --init-noise 0.5"
        "partition-2:--mode learnable --init-partition 2"
        "fixed-T-1:--mode learnable --no-learn-temperature --temperature 1")
cells=("digits:--recipe classroom"
       "pairs25:--dataset digit-pairs-25 --widths 25,50 --epochs 4 --preset classroom --batch-size 32"
       "pairs100:--dataset digit-pairs-100 --widths 100,200 --epochs 4 --preset classroom --batch-size 32")
for cell in "${cells[@]}"; do
  for seed in 1 2 3; do
    for start in "${starts[@]}"; do
      # the pairs' fixed T is in bench/REPORT.md, not shipped: assets/runs stays under 40 MB
      [[ $cell != digits:* && $start == fixed-T-1:* ]] && continue
      # shellcheck disable=SC2086  # the flags are meant to split
      python -m ffviz train ${cell#*:} ${start#*:} --seed $seed --threads 1 --device cpu --no-progress \
        --probe-size 20 --runs-dir "$out" --name "${cell%%:*} ${start%%:*}, seed $seed"
    done
  done
done
for d in "$out"/*; do
  if [[ -d "$d" ]] && grep -q '"name": "\(digits\|pairs25\|pairs100\) ' "$d/meta.json"; then
    rm -rf "$d/checkpoints"  # for the spread on the Gap page, not meant to be continued
    if grep -q '"name": "pairs100 ' "$d/meta.json"; then  # 0.66 MB a snapshot: keep the last epoch's only
      find "$d/snapshots" -name 'epoch_*.npz' ! -name 'epoch_0004.npz' -delete
      python -c "from ffviz.store.runs import update_meta; update_meta('$d', snapshot_epochs=[4])"
    else  # the first and last epochs' W
      last=$(python -c "import json; print(json.load(open('$d/meta.json'))['epochs_done'])")
      find "$d/snapshots" -name 'epoch_*.npz' ! -name 'epoch_0000.npz' ! -name "$(printf 'epoch_%04d.npz' "$last")" \
        -delete
      python -c "from ffviz.store.runs import update_meta; update_meta('$d', snapshot_epochs=[0, $last])"
    fi
  fi
done
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
