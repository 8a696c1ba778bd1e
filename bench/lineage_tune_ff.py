"""Original FF's own hyperparameters (theta, label scale, learning-rate scale, which layers count), chosen on the
digits' VALIDATION split with the classroom recipe; test accuracy is only printed beside, never used to choose.

    nice -n 5 python bench/lineage_tune_ff.py        # writes bench/results/lineage_tune_ff.json
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

import ffviz.method.model.original_ff as off  # noqa: E402
from ffviz.data import load_dataset  # noqa: E402
from ffviz.method.trainer import Callback, Trainer  # noqa: E402
from ffviz.recipes import recipe_config  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "lineage_tune_ff.json"


class Last(Callback):
    def __init__(self) -> None:
        self.val = None
        self.test = None

    def on_epoch(self, trainer, record, snapshot) -> None:
        self.val = record.acc_alpha

    def on_end(self, trainer, status, test) -> None:
        self.test = None if test is None else test.acc_alpha


def main() -> None:
    torch.set_num_threads(1)
    data = load_dataset("digits", image_size=8, channels=1, seed=2222)
    rows = []
    grid = itertools.product((0.5, 1.0, 2.0, 4.0), (1.0, 3.0), (0.25, 1.0), (True, False))
    for theta, label_scale, lr_scale, skip in grid:
        off.THETA, off.LABEL_SCALE, off.SKIP_FIRST = theta, label_scale, skip
        last = Last()
        cfg = recipe_config("classroom", mode="original-ff", device="cpu")
        Trainer(cfg.replace(lr=cfg.lr * lr_scale, lr_min=cfg.lr_min * lr_scale), data=data, callbacks=[last]).fit()
        rows.append(dict(theta=theta, label_scale=label_scale, lr_scale=lr_scale, skip_first=skip, val=last.val,
                         test=last.test))
        print(rows[-1], flush=True)
        OUT.write_text(json.dumps(rows, indent=1))
    best = max(rows, key=lambda r: r["val"])
    print("best on validation:", best)


if __name__ == "__main__":
    main()
