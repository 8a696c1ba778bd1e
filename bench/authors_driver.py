"""The authors' training loop in a process of its own, as their script's ``__main__`` runs it: what
bench/vs_authors.py times against ``python -m ffviz train``. Imports nothing of ffviz (its thread plan must not reach
this process) and nothing of theirs is copied: their ResNet_CIFAR10.py is imported unmodified from its own folder.

    python bench/authors_driver.py --authors /tmp/CAW-Conv --data tensors.pt --widths 20,40,80,160 --batch 32 \
        --epochs 10 --threads 2 --out times.json          # run from a scratch folder: their script writes its CSVs

Their ``__main__`` builds ``Resnet`` from its hyperparameters, then per epoch calls ``update_epoch`` on every layer
and times ``model.update(train_loader)``; this does the same, with their defaults (lr 0.08 -> 0.006, weight decay
5e-4, dropout 0.1, seed 2222) at the widths and epochs given. Their loader is a DataLoader over CIFAR-10; here it is
the leanest one there is over the very tensors ffviz trains on: a shuffled slice per batch, no workers, no collate.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import torch


class SliceLoader:
    """Shuffled mini-batches by slicing in-memory tensors, reshuffled every pass (as DataLoader(shuffle=True))."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch: int, seed: int) -> None:
        self.x, self.y, self.batch = x, y, batch
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self):
        perm = torch.randperm(len(self.y), generator=self.gen)
        for start in range(0, len(perm), self.batch):
            idx = perm[start:start + self.batch]
            yield self.x[idx], self.y[idx]

    def __len__(self) -> int:
        return (len(self.y) + self.batch - 1) // self.batch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--authors", type=Path, required=True, help="their repository's folder, at c4514393")
    ap.add_argument("--data", type=Path, required=True, help="a torch file with train_x, train_y, num_classes")
    ap.add_argument("--widths", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    script = args.authors / "ResNet_CIFAR10.py"
    spec = importlib.util.spec_from_file_location("authors_resnet_cifar10", script)
    authors = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(authors)
    data = torch.load(args.data)
    x, y = data["train_x"], data["train_y"]
    seed = 2222
    torch.manual_seed(seed)
    model = authors.Resnet(in_channels=x.shape[1], num_class=int(data["num_classes"]), dropout=0.1,
                           planes=[int(w) for w in args.widths.split(",")], learning_rate=0.08, lr_min=0.006,
                           weight_decay=5e-4, devices=[torch.device("cpu")], epochs=args.epochs)
    authors.model = model  # their update() reads the script's global ``model``, as their __main__ sets it
    loader = SliceLoader(x, y, args.batch, seed)
    seconds = []
    for epoch in range(args.epochs):
        for layer in model.layers:
            layer.update_epoch(epoch)
        authors.current_epoch = epoch
        start = time.time()
        model.train()
        model.update(loader)
        model.eval()
        seconds.append(time.time() - start)  # their train_time: the epoch's training, evaluation not included
        print(f"authors epoch {epoch + 1}: {seconds[-1]:.2f} s", flush=True)
    args.out.write_text(json.dumps({"epoch_seconds": seconds, "torch_threads": torch.get_num_threads()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
