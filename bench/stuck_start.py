"""Why the learnable assignment stays at chance on digit pairs while static learns: one suspect changed at a time,
every few steps each layer's temperature and W entropy traced. Writes the "stuck start" section of bench/REPORT.md.

    python bench/stuck_start.py                 # both data sets, every suspect (about 15 min at 1 thread)
    python bench/stuck_start.py --report-only   # rewrite the section from bench/results/stuck_start.json

The suspects (issue 25): the uniform W (the paper's constant A), the learnable temperature's drift, label smoothing's
floor at ln K, channels that stop firing, the step size on A (and on log T), and the number of steps. Each row starts
from the paper's start on the pairs cell of bench/pairs_study.py (preset classroom at 25/50 or 100/200 channels,
batch 32, T0 10, the paper's optimiser) and changes one thing. Validation accuracy only; nothing is read on test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from bench.report import machine_description, write_section  # noqa: E402
from ffviz.config import RunConfig  # noqa: E402
from ffviz.data import load_dataset  # noqa: E402
from ffviz.method.epoch_readings import row_entropy  # noqa: E402
from ffviz.method.trainer import Callback, Trainer  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "stuck_start.json"
EVERY = 5  # steps between trace points
SUSPECTS: dict[str, dict] = {
    "static (reference)": {"mode": "static"},
    "paper's start": {},
    "label smoothing 0": {"label_smoothing": 0.0},
    "no regularizers (λ_ent = λ_orth = 0)": {"lambda_entropy": 0.0, "lambda_orth": 0.0},
    "T capped at T0 (temp_max 10)": {"temp_max": 10.0},
    "T fixed at 10": {"learn_temperature": False},
    "T fixed at 1": {"learn_temperature": False, "temperature": 1.0},
    "learning rate 0.01 (A and log T step 8x smaller)": {"lr": 0.01, "lr_min": 0.001},
    "random A 0.5": {"init_noise": 0.5},
}
CELLS = {"pairs25": ("digit-pairs-25", (25, 50)), "pairs100": ("digit-pairs-100", (100, 200))}
SKIP_100 = ("label smoothing 0", "no regularizers (λ_ent = λ_orth = 0)", "learning rate 0.01 (A and log T step 8x "
            "smaller)")  # the 25-class rows answer these; the 100-class cell is 7x slower


class Trace(Callback):
    """Every EVERY steps: each layer's T_e, its W entropy (1 = uniform) and the mean pooled goodness of a batch."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def on_batch(self, trainer, record) -> None:
        if record.step % EVERY and record.step != 1:
            return
        with torch.no_grad():
            layers = trainer.model.layers
            t = [layer.temperature().item() for layer in layers]
            h = [row_entropy(layer.assignment().float()) for layer in layers]
        self.rows.append({"step": record.step, "T": t, "H": h, "ce": record.ce})


def run(cell: str, name: str, epochs: int) -> dict:
    dataset, widths = CELLS[cell]
    cfg = RunConfig(dataset=dataset, widths=widths, batch_size=32, epochs=epochs, device="cpu", probe_size=0,
                    seed=1, **SUSPECTS[name])
    trace = Trace()
    t0 = time.time()
    trainer = Trainer(cfg, data=load_dataset(dataset), callbacks=[trace])
    records = []

    class Epochs(Callback):
        def on_epoch(self, trainer, record, snapshot) -> None:
            records.append(record)

    trainer.callbacks.append(Epochs())
    trainer.fit()
    last = records[-1]
    return {"cell": cell, "suspect": name, "epochs": epochs, "steps": last.step, "seconds": round(time.time() - t0),
            "val": [round(r.acc_alpha, 2) for r in records], "trace": trace.rows,
            "good_true": last.good_true, "good_wrong": last.good_wrong, "K": trainer.data.num_classes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--cells", default="pairs25,pairs100")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = json.loads(OUT.read_text()) if OUT.exists() else []
    if not args.report_only:
        for cell in args.cells.split(","):
            for name in SUSPECTS:
                if cell == "pairs100" and name in SKIP_100:
                    continue
                rows = [r for r in rows if (r["cell"], r["suspect"]) != (cell, name)] + [run(cell, name, args.epochs)]
                OUT.write_text(json.dumps(rows))
                print(cell, name, rows[-1]["val"], rows[-1]["seconds"], "s", flush=True)
    write_section("stuck", "The stuck start on digit pairs, measured (bench/stuck_start.py)", body(rows))


def _at(trace: list[dict], step: int) -> dict:
    return min(trace, key=lambda r: abs(r["step"] - step))


def _mean(v: list[float]) -> float:
    v = [x for x in v if x == x]
    return sum(v) / len(v) if v else float("nan")


def body(rows: list[dict]) -> str:
    out = [f"Machine: {machine_description()}, 1 thread, shared with other work (accuracies unaffected). Seed 1, "
           "validation split only. T and H are means over the layers (H: W's row entropy over ln K, 1 = uniform); "
           "T↑100 is the step at which the first layer's temperature reached its ceiling of 100.", ""]
    for cell in CELLS:
        these = [r for r in rows if r["cell"] == cell]
        if not these:
            continue
        k = these[0]["K"]
        out += [f"**{cell}** ({k} classes, ln K = {math.log(k):.2f}; {these[0]['steps'] // these[0]['epochs']} "
                "steps an epoch):", "",
                "| start | val % per epoch | T @ step 25 / 125 / end | H @ 25 / 125 / end | T↑100 at step | "
                "CE per layer at end (mean) | goodness true / wrong, layer 0 |",
                "|---|---|---|---|---|---|---|"]
        for r in these:
            tr = r["trace"]
            ts = [_mean(_at(tr, s)["T"]) for s in (25, 125, tr[-1]["step"])]
            hs = [_mean(_at(tr, s)["H"]) for s in (25, 125, tr[-1]["step"])]
            ceil = next((p["step"] for p in tr if max(p["T"]) >= 98.0), None)
            out.append(f"| {r['suspect']} | {' → '.join(f'{v:.1f}' for v in r['val'])} | "
                       f"{' / '.join(f'{v:.2g}' for v in ts)} | {' / '.join(f'{v:.3f}' for v in hs)} | "
                       f"{ceil if ceil else '–'} | {_mean(tr[-1]['ce']):.2f} | "
                       f"{r['good_true'][0]:.2g} / {r['good_wrong'][0]:.2g} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
