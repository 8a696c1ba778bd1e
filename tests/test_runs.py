"""Run folders: readable while written, torn lines ignored, checkpoints safe and plain."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from ffviz.config import RunConfig
from ffviz.data import load_dataset
from ffviz.method.trainer import Callback, Trainer
from ffviz.runner.run_writer import RunWriter
from ffviz.store.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ffviz.store.runs import RunReader, list_runs
from ffviz.store.storage import JsonlAppender, JsonlTail


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "r1"
    cfg = RunConfig(preset="classroom-mini", epochs=2, batch_size=256, image_size=8, probe_size=8, device="cpu")
    Trainer(cfg, data=load_dataset("digits", image_size=8), callbacks=[RunWriter(run_dir)]).fit()
    return run_dir


def test_run_folder_layout(finished_run) -> None:
    files = {p.relative_to(finished_run).as_posix() for p in finished_run.rglob("*") if p.is_file()}
    assert {"config.json", "meta.json", "epochs.jsonl", "batches.jsonl", "events.jsonl", "test.json",
            "snapshots/epoch_0000.npz", "snapshots/epoch_0002.npz", "checkpoints/last.pt",
            "checkpoints/final.pt"} <= files
    assert not [f for f in files if f.endswith(".tmp")]  # no leftovers of atomic writes
    meta = json.loads((finished_run / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["epochs_done"] == 2 and meta["num_layers"] == 9
    assert meta["split_sizes"] == [1257, 180, 360]
    assert list_runs(finished_run.parent) == [finished_run]


def test_reader_reads_back_what_was_written(finished_run) -> None:
    r = RunReader(finished_run)
    assert r.config.preset == "classroom-mini"
    assert [e.epoch for e in r.epochs] == [0, 1, 2]
    assert r.test is not None and r.test.epoch == 2
    snap = r.snapshot(2)
    assert len(snap.w) == 9 and snap.w[0].shape == (10, 10) and snap.val_pred.shape == (180,)
    assert not r.refresh()  # nothing new


def test_snapshots_are_cached_server_wide_within_a_byte_bound(finished_run, monkeypatch) -> None:
    from ffviz.store import filecache

    filecache.clear()
    RunReader(finished_run).snapshot(0)
    size = filecache.arrays.nbytes  # one snapshot's arrays
    assert size > 0
    filecache.clear()
    monkeypatch.setattr(filecache.arrays, "capacity", 2 * size)
    r = RunReader(finished_run)
    zero, one = r.snapshot(0), r.snapshot(1)
    assert r.snapshot(0) is zero  # cached, and now more recently used than epoch 1
    assert RunReader(finished_run).snapshot(0) is zero  # another reader (another session) shares it
    r.snapshot(2)  # a third epoch's bytes push out the least recently used, epoch 1
    assert filecache.arrays.nbytes <= 2 * size
    assert r.snapshot(0) is zero
    assert r.snapshot(1) is not one and r.snapshot(1).epoch == 1  # read again from its file
    filecache.clear()


def test_checkpoints_load_with_weights_only(finished_run) -> None:
    for which in ("last", "final"):
        raw = torch.load(finished_run / "checkpoints" / f"{which}.pt", weights_only=True)
        assert raw["format"] == "ffviz-checkpoint" and raw["epoch"] == 2
        assert RunConfig.from_dict(raw["config"]).preset == "classroom-mini"


def test_tail_ignores_a_torn_last_line_until_it_is_complete(tmp_path) -> None:
    path = tmp_path / "x.jsonl"
    w = JsonlAppender(path)
    w.append({"a": 1})
    with open(path, "ab") as f:
        f.write(b'{"a": 2')  # a write cut short
    tail = JsonlTail(path)
    assert tail.read_new() == [{"a": 1}]
    with open(path, "ab") as f:
        f.write(b"}\n")
    assert tail.read_new() == [{"a": 2}]
    assert tail.read_new() == []


def test_reader_sees_records_while_the_run_is_going(tmp_path) -> None:
    seen = []

    class Peek(Callback):
        def on_epoch(self, trainer, record, snapshot):
            reader = RunReader(tmp_path / "r")
            seen.append((record.epoch, [e.epoch for e in reader.epochs], reader.meta["status"]))

    cfg = RunConfig(preset="classroom-mini", epochs=2, batch_size=256, image_size=8, probe_size=8, device="cpu")
    Trainer(cfg, data=load_dataset("digits", image_size=8), callbacks=[RunWriter(tmp_path / "r"), Peek()]).fit()
    assert seen == [(0, [0], "running"), (1, [0, 1], "running"), (2, [0, 1, 2], "running")]


class Marker:
    """Unpickling this would create a file: proof that a loader ran code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_checkpoint_loader_refuses_code_and_garbage(tmp_path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "ffviz-checkpoint", "version": 1, "x": Marker(str(marker))}, evil, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="other than tensors"):
        load_checkpoint(evil)
    assert not marker.exists()

    good = tmp_path / "good.pt"
    save_checkpoint(good, {"epoch": 1, "t": torch.ones(3)})
    data = good.read_bytes()
    cases = {"empty": b"", "truncated": data[: len(data) // 2], "random": bytes(range(256)) * 8}
    for blob in cases.values():
        with pytest.raises(CheckpointError):
            load_checkpoint(blob)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(2)}, foreign)
    with pytest.raises(CheckpointError, match="not an ffviz checkpoint"):
        load_checkpoint(foreign)
    newer = tmp_path / "newer.pt"
    torch.save({"format": "ffviz-checkpoint", "version": 99}, newer)
    with pytest.raises(CheckpointError, match="newer ffviz"):
        load_checkpoint(newer)
    assert load_checkpoint(good)["epoch"] == 1
