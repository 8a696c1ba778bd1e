"""Small folders of training logs in the authors' format (read from their ResNet_CIFAR10.py at c4514393 and written
here by ffviz's tests; nothing of theirs is copied): the CSVs, and the weights file as numpy prints W's columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WIDTHS = (20, 40, 80, 160)  # the side-by-side preset's
INFO_HEADER = ("epoch,start_layer,end_layer,before_acc,valid_acc,before_test_acc,test_acc,train_time,pruning_time,"
               "test_time,lr,info_str")


def layer_widths(widths=WIDTHS) -> list[int]:
    return [widths[0]] + [w for w in widths for _ in range(4)]


def fake_w(epoch: int, c: int, k: int, seed: int) -> np.ndarray:
    """(C, K) rows on the simplex, sharper as epochs pass, at 4 decimals as their file writes them."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(c, k)) * epoch / 5
    w = np.exp(a) / np.exp(a).sum(1, keepdims=True)
    return w.round(4)


def write_weights(path: Path, ws_by_epoch: dict[int, list[np.ndarray]]) -> None:
    # the title ffviz recognises; the four lines after it are free text (ffviz skips them)
    lines = ["All Epochs Layer Weights (written by ffviz's tests)", "=" * 80, "(free text)", "(free text)", "=" * 80]
    out = "\n".join(lines) + "\n"
    for epoch, ws in sorted(ws_by_epoch.items()):
        out += f"\n\n{'=' * 80}\nEpoch {epoch}\n{'=' * 80}\n"
        out += f"{'Layer':<8} {'Shape':<15} {'W by class':<50}" + "\n" + "-" * 80 + "\n"
        for i, w in enumerate(ws):
            out += f"{i:<8} {str(tuple(w.shape)):<15} "
            for k in range(min(w.shape[1], 10)):
                if k:
                    out += " " * 23
                out += f"Class {k}: {np.round(w[:, k], 4)}\n"
            out += "-" * 80 + "\n"
    path.write_text(out)


def write_logs(folder: Path, *, epochs: int = 12, widths=WIDTHS, k: int = 10, seed: int = 0) -> dict[int, list]:
    """A finished run of ``epochs`` epochs in their format; returns the W written, {epoch: per layer (C, K)}."""
    folder.mkdir(parents=True, exist_ok=True)
    cs = layer_widths(widths)
    n = len(cs)
    rng = np.random.default_rng(seed)
    info = [INFO_HEADER]
    for e in range(1, epochs + 1):
        acc = 100 - 80 * 0.6 ** e
        info.append(f"{e},0,{n - 1},{acc - 1:.2f},{acc:.2f},{acc - 1.5:.2f},{acc - 0.5:.2f},{4 + rng.random():.2f},"
                    f"0.9,0.0,{0.08 * 0.97 ** e:.3f},Epoch: {e:03d}/{epochs:03d}: Valid Acc: {acc - 1:.2f}% -> "
                    f"{acc:.2f}%")
    (folder / "info_17L.csv").write_text("\n".join(info) + "\n")
    losses = [",".join(f"Layer_{i}" for i in range(n))]
    for e in range(2, epochs + 1):
        losses.append(",".join(str(2.3 * 0.8 ** e * (1 + 0.01 * i)) for i in range(n)))
    (folder / "layer_losses_17L.csv").write_text("\n".join(losses) + "\n")
    ortho = ["epoch," + ",".join(f"layer_{i}_ortho_loss" for i in range(n)) + "," +
             ",".join(f"layer_{i}_ortho_score" for i in range(n))]
    for e in range(epochs):
        ortho.append(f"{e}," + ",".join(str(4.5e-4 / (1 + e + i)) for i in range(n)) + "," +
                     ",".join(str(2.8 - 0.1 * e) for _ in range(n)))
    (folder / "ortho_metrics_17L.csv").write_text("\n".join(ortho) + "\n")
    (folder / "accuracy.csv").write_text("".join(f"{e},{90 + e / 2},{89 + e / 2},{88 + e / 2}\n"
                                                 for e in [*range(0, epochs, 5), epochs]))
    (folder / "layer_acc.csv").write_text("".join(f"{60 + i},{55 + i}\n" for i in range(n)))
    ws = {e: [fake_w(e, c, k, seed + 17 * e + i) for i, c in enumerate(cs)] for e in range(0, epochs, 10)}
    write_weights(folder / "all_epochs_layer_weights.txt", ws)
    return ws
