"""Killing a training process at any moment (SIGKILL) leaves every finished epoch readable and resumable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ffviz.method.trainer import Trainer
from ffviz.runner.run_process import resume
from ffviz.store.catalog import summarize
from ffviz.store.runs import RunReader, list_runs


def test_sigkill_mid_epoch_then_continue(tmp_path) -> None:
    root = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "ffviz", "train", "--preset", "classroom-mini", "--epochs", "50",
                             "--image-size", "8", "--batch-size", "64", "--device", "cpu", "--runs-dir", str(root),
                             "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        run_dir = None
        while time.monotonic() < deadline:
            runs = list_runs(root)
            if runs and (runs[0] / "epochs.jsonl").exists():
                run_dir = runs[0]
                lines = (run_dir / "epochs.jsonl").read_bytes().count(b"\n")
                batches = (run_dir / "batches.jsonl").read_bytes().count(b"\n")
                # past epoch 2 and somewhere inside epoch 3
                if lines >= 3 and batches % 20 not in (0, 19):
                    break
            time.sleep(0.05)
        assert run_dir is not None, "the run never started"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader = RunReader(run_dir)
    done = reader.epochs[-1].epoch
    assert done >= 2
    assert [e.epoch for e in reader.epochs] == list(range(done + 1))  # every finished epoch, none torn
    for e in range(done + 1):
        reader.snapshot(e)  # every snapshot readable
    assert summarize(run_dir, "local").status == "interrupted"
    trainer = resume(run_dir, epochs=done + 1)
    assert isinstance(trainer, Trainer) and trainer.epoch in (done, done - 1)
    assert trainer.fit() == "finished"
    again = RunReader(run_dir)
    assert [e.epoch for e in again.epochs] == list(range(done + 2))
    assert again.meta["status"] == "finished"
