"""Runs as TensorBoard event files (ffviz/interop/tensorboard.py), read back with TensorBoard's own reader: the export
of a shipped run, the live files of ``train --tensorboard``, the Runs page's zip, and folders it refuses."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboard", reason="the tensorboard package is not installed (requirements.txt)")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from ffviz import cli  # noqa: E402
from ffviz.interop.tensorboard import ExportError, export_run, w_image  # noqa: E402
from ffviz.interop.workers import tensorboard_zip  # noqa: E402
from ffviz.store.runs import RunReader  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# The shipped learnable run at the recipe's defaults (seed 1: the one a new user's view pages open on).
SHIPPED = sorted((REPO / "assets" / "runs").glob("*-learnable-classroom-learnable-default-lambdas"))[-1]
EVERYTHING = {"scalars": 0, "images": 0, "histograms": 0, "tensors": 0}


def load(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance=EVERYTHING)
    acc.Reload()
    return acc


def test_the_export_of_a_shipped_run_reads_back_in_tensorboard(tmp_path):
    run = RunReader(SHIPPED)
    out = export_run(SHIPPED, tmp_path)
    assert out == tmp_path / SHIPPED.name  # one event folder per run, named after it
    acc = load(out)
    tags = acc.Tags()
    val = acc.Scalars("accuracy/val_alpha")  # a validation-accuracy scalar per epoch
    assert [s.step for s in val] == [e.epoch for e in run.epochs]
    assert [s.value for s in val] == pytest.approx([e.acc_alpha for e in run.epochs], rel=1e-6)
    layers = len(run.epochs[0].val_acc)
    for name in ("accuracy/val_sum", "accuracy/val_last", "train/lr", "train/images_per_sec", "lambda/entropy",
                 "lambda/orth", "alpha/layer_00", f"layer_{layers - 1:02d}/val_acc", "layer_00/train_loss",
                 "temperature/layer_00", "regularizer/entropy/layer_00", "regularizer_weighted/orth/layer_00",
                 "test/acc_alpha", "batch/loss"):
        assert name in tags["scalars"], name
    images = acc.Images("W/layer_02")  # each layer's W as an image per snapshot epoch
    assert [i.step for i in images] == [e.epoch for e in run.epochs]
    c, k = run.snapshot(run.epochs[-1].epoch).w[2].shape
    assert images[-1].height % c == 0 and images[-1].width % k == 0
    hist = acc.Histograms("W_hist/layer_02")
    assert len(hist) == len(run.epochs) and hist[-1].histogram_value.num == c * k
    assert hist[-1].histogram_value.max == pytest.approx(float(run.snapshot(run.epochs[-1].epoch).w[2].max()))
    assert len(tags["images"]) == layers and len(tags["histograms"]) == layers


def test_w_image_is_dark_where_w_is_high():
    w = np.full((4, 3), 0.1, dtype=np.float32)
    w[1, 2] = 0.9
    img = w_image(w)
    assert img.dtype == np.uint8 and img.shape[0] % 4 == 0 and img.shape[1] % 3 == 0
    sy, sx = img.shape[0] // 4, img.shape[1] // 3
    assert img[sy * 1, sx * 2] == 0 and img[0, 0] > 200


def test_train_tensorboard_writes_the_event_files_live(tmp_path, capsys):
    code = cli.main(["train", "--preset", "classroom-mini", "--epochs", "2", "--batch-size", "256", "--probe-size",
                     "4", "--device", "cpu", "--runs-dir", str(tmp_path / "runs"), "--tensorboard",
                     str(tmp_path / "tb"), "--no-progress"])
    assert code == 0
    [run_dir] = (tmp_path / "runs").iterdir()
    [events] = (tmp_path / "tb").iterdir()
    assert events.name == run_dir.name
    acc = load(events)
    assert [s.step for s in acc.Scalars("accuracy/val_alpha")] == [0, 1, 2]
    assert [s.value for s in acc.Scalars("accuracy/val_alpha")] == pytest.approx(
        [e.acc_alpha for e in RunReader(run_dir).epochs], rel=1e-6)
    assert len(acc.Images("W/layer_00")) == 3 and len(acc.Histograms("W_hist/layer_00")) == 3
    assert acc.Scalars("test/acc_alpha")[0].step == 2


def test_the_live_files_hold_each_epoch_as_it_ends(tmp_path):
    """What `tensorboard --logdir` follows: after epoch 1's callbacks, its scalars and W are on disk already."""
    from ffviz.config import RunConfig
    from ffviz.interop.tensorboard import TensorBoardCallback
    from ffviz.method.trainer import Callback, Trainer

    seen = {}

    class Look(Callback):
        def on_epoch(self, trainer, record, snapshot):
            acc = load(tmp_path / "tb" / "live")
            seen[record.epoch] = ([s.step for s in acc.Scalars("accuracy/val_alpha")],
                                  len(acc.Images("W/layer_00")))

    cfg = RunConfig(preset="classroom-mini", epochs=2, batch_size=256, probe_size=4, device="cpu")
    Trainer(cfg, callbacks=[TensorBoardCallback(tmp_path / "tb", "live"), Look()]).fit()
    assert seen[1] == ([0, 1], 2) and seen[2] == ([0, 1, 2], 3)


def test_the_runs_page_zip_holds_the_event_folder(tmp_path):
    data = tensorboard_zip(SHIPPED)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        assert names and all(n.startswith(f"{SHIPPED.name}/events.out.tfevents.") for n in names)
        z.extractall(tmp_path)
    assert len(load(tmp_path / SHIPPED.name).Scalars("accuracy/val_alpha")) == len(RunReader(SHIPPED).epochs)


def test_what_cannot_be_exported_is_refused(tmp_path):
    with pytest.raises(ExportError, match="not an ffviz run folder"):
        export_run(tmp_path, tmp_path / "tb")
    export_run(SHIPPED, tmp_path / "tb")
    with pytest.raises(ExportError, match="exists already"):
        export_run(SHIPPED, tmp_path / "tb")
    export_run(SHIPPED, tmp_path / "tb", overwrite=True)
    assert len(list((tmp_path / "tb" / SHIPPED.name).iterdir())) == 1
    # a hostile snapshot (a compressed entry that could expand without bound) is refused before it is loaded
    bad = tmp_path / "bad"
    subprocess.run(["cp", "-r", str(SHIPPED), str(bad)], check=True)
    snap = bad / "snapshots" / "epoch_0003.npz"
    with np.load(snap) as a:
        arrays = dict(a)
    np.savez_compressed(snap, **arrays)
    with pytest.raises(ExportError, match="epoch 3 is not readable: .*compressed"):
        export_run(bad, tmp_path / "tb2")
    done = subprocess.run([sys.executable, "-m", "ffviz", "export", "--tensorboard", str(tmp_path / "tb3"),
                           str(tmp_path / "nothing")], capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(REPO)})
    assert done.returncode == 2 and "cannot be exported" in done.stderr


def test_import_ffviz_and_the_cli_parser_do_not_load_tensorboard():
    code = ("import sys, ffviz, ffviz.cli, ffviz.interop.workers; ffviz.cli.build_parser(); "
            "print(any(m.startswith(('tensorboard', 'torch.utils.tensorboard')) for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(REPO)})
    assert done.stdout.strip() == "False", done.stderr
