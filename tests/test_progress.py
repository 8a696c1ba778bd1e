"""What the pages read from a run folder, without Streamlit: the reader's lazy per-epoch arrays, progress, settings."""

from __future__ import annotations

import dataclasses
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ffviz.config import RunConfig
from ffviz.data import load_dataset
from ffviz.data.display import image_for_display
from ffviz.runner.run_writer import RunWriter
from ffviz.store.places import runs_root
from ffviz.store.progress import format_seconds, progress, run_label
from ffviz.store.runs import RunReader, update_meta
from ffviz.store.storage import atomic_write
from pages.common.train.fields import other_fields
from pages.common.train.fields import slider_options as live_options

CFG = RunConfig(preset="classroom-mini", epochs=2, batch_size=32, probe_size=8, device="cpu")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real 2-epoch run on 128 digits (4 batches an epoch): cheap, and every record kind is there."""
    from ffviz.method.trainer import Trainer

    full = load_dataset("digits")
    small = dataclasses.replace(full, train_x=full.train_x[:128], train_y=full.train_y[:128])
    path = tmp_path_factory.mktemp("ui") / "20261126-120000-learnable-classroom-mini"
    assert Trainer(CFG, data=small, callbacks=[RunWriter(path)]).fit() == "finished"
    return path


def test_progress_of_a_finished_run(run_dir):
    p = progress(RunReader(run_dir), "finished")
    assert (p.epochs_done, p.epochs_total, p.fraction, p.seconds_left) == (2, 2, 1.0, 0.0)
    assert p.batches_per_epoch == 4 and p.images_per_sec and p.images_per_sec > 0
    assert p.device.startswith("cpu")


def test_progress_of_a_run_in_its_second_epoch(run_dir):
    full = RunReader(run_dir)
    # as if epoch 2 were still being trained, two batches into it
    r = SimpleNamespace(config=full.config, meta=full.meta, epochs=full.epochs[:2],
                        batches=[b for b in full.batches if b.step <= 6])
    p = progress(r, "running")
    assert (p.epochs_done, p.batch_in_epoch) == (1, 2)
    assert p.fraction == pytest.approx((1 + 2 / 4) / 2)
    assert p.seconds_left is not None and p.seconds_left > 0


def test_live_run_reads_snapshots_and_w_history_lazily(run_dir):
    live = RunReader(run_dir)
    snap = live.snapshot(1)
    assert live.snapshot(1) is snap  # cached
    hist = live.w_history(3)
    assert sorted(hist) == [0, 1, 2]
    np.testing.assert_allclose(hist[1], snap.w[3])
    assert np.allclose(hist[0], 0.1)  # uniform at the start
    assert live.epoch(2).epoch == 2 and live.epoch(7) is None
    assert live.version == (len(live.batches), 3, len(live.events))


def test_live_run_starts_over_when_the_logs_are_rewritten(run_dir, tmp_path):
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    live = RunReader(copy)
    assert len(live.epochs) == 3
    lines = (copy / "epochs.jsonl").read_bytes().splitlines(keepends=True)
    atomic_write(copy / "epochs.jsonl", lambda f: f.write(b"".join(lines[:2])))  # as a resume truncates
    assert live.refresh()
    assert len(live.epochs) == 2


def test_the_reader_opens_without_parsing_a_log(run_dir, tmp_path, monkeypatch):
    """Config and meta come from their own files; the logs are parsed on the first record asked for."""
    from ffviz.store import storage

    parsed = []
    real = storage.JsonlTail.read_new
    monkeypatch.setattr(storage.JsonlTail, "read_new", lambda self: parsed.append(self.path.name) or real(self))
    reader = RunReader(run_dir)
    assert reader.config == CFG and reader.meta["status"] == "finished" and reader.test is not None
    assert parsed == []
    assert len(reader.epochs) == 3 and sorted(parsed) == ["batches.jsonl", "epochs.jsonl", "events.jsonl"]


def test_one_shared_reader_per_run_folder_found_by_its_name(run_dir, monkeypatch):
    from ffviz.store import places

    monkeypatch.setenv("FFVIZ_RUNS_DIR", str(run_dir.parent))
    reader = places.open_run(run_dir.name)
    assert reader is places.open_run(run_dir.name) and reader.dir == run_dir
    assert places.find_run(run_dir.name) == run_dir and places.source_of(run_dir) == "local"
    assert places.open_run("no-such-run") is None and places.open_run("../etc") is None


def test_run_label_and_root(run_dir, monkeypatch, tmp_path):
    assert run_label(run_dir) == "26 Nov 12:00 · learnable-classroom-mini · finished"
    update_meta(run_dir, status="running", pid=None)
    try:
        assert run_label(run_dir).endswith("interrupted")
    finally:
        update_meta(run_dir, status="finished")
    monkeypatch.setenv("FFVIZ_RUNS_DIR", str(tmp_path))
    assert runs_root() == tmp_path


def test_settings_helpers():
    assert 0.05 in live_options("lambda_entropy", 0.05) and 0.01 in live_options("lambda_entropy", 0.01)
    assert live_options("lr", 0.08) == sorted(live_options("lr", 0.08))
    rest = other_fields()
    assert "dropout" in rest and "lambda_entropy" not in rest and "device" not in rest
    assert format_seconds(None) == "–" and format_seconds(42) == "42 s" and format_seconds(125) == "2 min 05 s"


def test_image_for_display_undoes_the_normalisation():
    px = torch.rand(1, 4, 4)
    x = ((px - 0.5) / 0.25).numpy()
    out = image_for_display(x, (0.5,), (0.25,))
    assert out.shape == (4, 4) and out.dtype == np.uint8
    np.testing.assert_allclose(out, (px[0].numpy() * 255).astype(np.uint8), atol=1)
    rgb = image_for_display(np.zeros((3, 2, 2), np.float32), (0.5, 0.5, 0.5), (1.0, 1.0, 1.0))
    assert rgb.shape == (2, 2, 3) and (rgb == 127).all()


def test_a_run_writes_its_probe_images_so_pages_need_no_dataset(run_dir):
    with np.load(run_dir / "probes.npz") as a:
        pixels = a["pixels"]
    data = load_dataset(CFG.dataset, image_size=CFG.image_size or None, seed=CFG.seed)
    assert pixels.dtype == np.uint8 and len(pixels) == min(CFG.probe_size, len(data.val_y))
    for i in (0, len(pixels) - 1):
        assert np.array_equal(pixels[i], image_for_display(data.val_x[i].numpy(), data.mean, data.std))
