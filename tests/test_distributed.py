"""DistributedDataParallel under torchrun: two CPU processes (gloo) on tiny data end with the same weights, and
rank 0 alone writes a complete run folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import torch

from ffviz.method.distributed import DistContext, batch_part, weights_digest
from ffviz.method.model import FFNet
from ffviz.store.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def test_batch_parts_are_disjoint_and_cover_the_batch() -> None:
    idx = torch.randperm(37)
    for world in (1, 2, 3, 4):
        parts = [batch_part(idx, DistContext(rank=r, world_size=world, local_rank=r, backend="gloo"))
                 for r in range(world)]
        assert torch.equal(torch.cat(parts), idx)
        assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1
    assert batch_part(idx, None) is idx
    # a last batch smaller than the number of ranks is skipped by every rank
    assert batch_part(idx[:2], DistContext(rank=0, world_size=3, local_rank=0, backend="gloo")) is None


def test_weights_digest_sees_every_weight() -> None:
    torch.manual_seed(0)
    net = FFNet(in_channels=1, num_classes=10, widths=(10, 20), image_size=8)
    before = weights_digest(net)
    assert weights_digest(net) == before
    with torch.no_grad():
        net.layers[4].A[3, 2] += 1e-6
    assert weights_digest(net) != before


def test_torchrun_two_processes(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "ffviz",
           "train", "--preset", "classroom-mini", "--epochs", "2", "--batch-size", "64", "--device", "cpu",
           "--runs-dir", str(runs), "--no-progress", "--batch-log-every", "5"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    digests = dict(re.findall(r"ffviz ddp rank (\d)/2: weights ([0-9a-f]+)", out))
    assert set(digests) == {"0", "1"}, out
    assert digests["0"] == digests["1"], out
    assert "weights identical on every rank" in out

    (run_dir,) = list(runs.iterdir())  # rank 0 alone made a run folder
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["epochs_done"] == 2
    assert (run_dir / "test.json").exists()
    epochs = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [0, 1, 2]
    # the epoch statistics count every rank's images: 1,257 training images (none skipped with 2 ranks)
    assert epochs[1]["images_per_sec"] > 0
    final = load_checkpoint(run_dir / "checkpoints" / "final.pt")
    net = FFNet(in_channels=1, num_classes=10, widths=(10, 20), image_size=16)
    net.load_state_dict(final["model"])
    assert weights_digest(net) == digests["0"]  # what rank 0 saved is what both ranks hold
    assert final["step"] == 2 * 20  # 20 global batches of 64 per epoch, the same count on both ranks
