"""A folder of the authors' training logs becomes an ffviz run (ffviz/interop/authors_logs.py): history, W at the
epochs their weights file holds, config sources; and whatever is not theirs, or is hostile, is refused with a
message. The logs are small files these tests write in their format (tests/authors_logs_support.py)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from authors_logs_support import layer_widths, write_logs, write_weights

from ffviz.interop import authors_format
from ffviz.interop.authors_logs import AuthorsLogsError, import_logs, read_logs
from ffviz.interop.workers import import_logs_in_process
from ffviz.store.runs import RunReader

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def logs(tmp_path) -> tuple[Path, dict]:
    folder = tmp_path / "20261204-010000_cifar10_resnet"
    return folder, write_logs(folder, epochs=12)


def test_logs_become_a_run_with_history_w_and_config_sources(logs, tmp_path):
    folder, ws = logs
    run = RunReader(import_logs(folder, tmp_path / "runs"))
    assert [e.epoch for e in run.epochs] == list(range(13))  # epoch 0 (their W before training) and 1..12
    info = (folder / "info_17L.csv").read_text().splitlines()[1:]
    assert [e.acc_alpha for e in run.epochs[1:]] == [float(r.split(",")[4]) for r in info]
    assert [e.acc_sum for e in run.epochs[1:]] == [float(r.split(",")[3]) for r in info]
    assert math.isnan(run.epochs[1].train_ce[0])  # their script skips the first epoch's losses
    losses = [float(x) for x in (folder / "layer_losses_17L.csv").read_text().splitlines()[1].split(",")]
    assert run.epochs[2].train_ce == losses
    alpha = np.exp(-np.asarray(losses)) / np.exp(-np.asarray(losses)).sum()  # their α: softmax(-loss)
    np.testing.assert_allclose(run.epochs[2].alpha, alpha, rtol=1e-9)
    assert run.epochs[3].train_terms["orth"][0] == pytest.approx(4.5e-4 / 3)  # their epoch 2 (from 0) is our 3
    assert math.isnan(run.epochs[5].val_acc[0]) and math.isnan(run.epochs[5].temperature[0])  # not in their logs
    for epoch in (0, 10):
        for layer, w in enumerate(ws[epoch]):
            np.testing.assert_allclose(run.snapshot(epoch).w[layer], w, atol=1e-6)
    meta = run.meta
    assert meta["snapshot_epochs"] == [0, 10] and meta["status"] == "finished" and meta["epochs_done"] == 12
    assert run.config.widths == () and run.config.preset == "side-by-side" and run.config.epochs == 12
    assert meta["config_sources"]["dataset"].startswith("the folder's name")  # <time>_cifar10_resnet
    assert meta["config_sources"]["lambda_entropy"].startswith("unknown")
    assert meta["class_names"][0] == "airplane"
    assert run.test.acc_alpha == float(info[-1].split(",")[6]) and run.test.layer_acc[0] == 55
    # the view pages scrub the epochs with a W; any other epoch shows the latest W before it
    live = RunReader(run.dir)
    assert live.view_epochs == [0, 10]
    np.testing.assert_array_equal(live.snapshot(12).w[3], live.snapshot(10).w[3])


def test_the_dataset_given_wins_and_an_unknown_one_is_marked(logs, tmp_path):
    folder, _ = logs
    run = RunReader(import_logs(folder, tmp_path / "a", dataset="digits"))
    assert run.config.dataset == "digits" and run.meta["config_sources"]["dataset"] == "given on import"
    plain = folder.rename(folder.parent / "logs")
    run = RunReader(import_logs(plain, tmp_path / "b"))
    assert run.meta["dataset"].startswith("unknown") and run.meta["config_sources"]["dataset"].startswith("unknown")
    with pytest.raises(AuthorsLogsError, match="100 classes"):
        import_logs(plain, tmp_path / "c", dataset="cifar100")


def test_a_run_cut_short_is_stopped_without_a_test_record(tmp_path):
    folder = tmp_path / "logs"
    write_logs(folder, epochs=12)
    info = (folder / "info_17L.csv").read_text().splitlines()
    (folder / "info_17L.csv").write_text("\n".join(info[:8]).replace("/012:", "/150:") + "\n")
    losses = (folder / "layer_losses_17L.csv").read_text().splitlines()
    (folder / "layer_losses_17L.csv").write_text("\n".join(losses[:7]) + "\n")
    run = RunReader(import_logs(folder, tmp_path / "runs"))
    assert run.meta["status"] == "stopped" and run.test is None and run.config.epochs == 150
    assert run.meta["snapshot_epochs"] == [0]  # epoch 10's W is beyond the 7 epochs logged


def _refused(folder: Path, tmp_path: Path, match: str) -> None:
    with pytest.raises(AuthorsLogsError, match=match):
        import_logs(folder, tmp_path / "runs")
    assert not any((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True


def test_a_folder_that_is_not_theirs_is_refused(tmp_path):
    folder = tmp_path / "logs"
    write_logs(folder)
    (folder / "info_17L.csv").unlink()
    _refused(folder, tmp_path, "no info_17L.csv: this is not a folder of the authors'")
    write_logs(folder)
    (folder / "info_17L.csv").write_text("step,loss\n1,0.5\n")
    _refused(folder, tmp_path, "does not start with the header")
    write_logs(folder)
    (folder / "all_epochs_layer_weights.txt").write_text("hello\n")
    _refused(folder, tmp_path, "not the weights file")
    _refused(tmp_path / "nowhere", tmp_path, "is not a folder")


@pytest.mark.parametrize("bad, match", [("nan", "finite numbers"), ("inf", "finite numbers"),
                                        ("-1e9", "outside"), ("abc", "not a number")])
def test_numbers_must_be_finite_and_in_range(tmp_path, bad, match):
    folder = tmp_path / "logs"
    write_logs(folder)
    lines = (folder / "info_17L.csv").read_text().splitlines()
    fields = lines[3].split(",")
    fields[4] = bad
    lines[3] = ",".join(fields)
    (folder / "info_17L.csv").write_text("\n".join(lines) + "\n")
    _refused(folder, tmp_path, match)
    write_logs(folder)
    lines = (folder / "layer_losses_17L.csv").read_text().splitlines()
    lines[2] = bad + lines[2][lines[2].index(","):]
    (folder / "layer_losses_17L.csv").write_text("\n".join(lines) + "\n")
    _refused(folder, tmp_path, match)


def test_nan_weights_and_weights_outside_0_1_are_refused(tmp_path):
    folder = tmp_path / "logs"
    ws = write_logs(folder)
    w = ws[10][3].copy()
    w[0, 0] = np.nan
    write_weights(folder / "all_epochs_layer_weights.txt", {0: ws[0], 10: [*ws[10][:3], w, *ws[10][4:]]})
    _refused(folder, tmp_path, "NaN or infinite weights")
    w[0, 0] = 7.0
    write_weights(folder / "all_epochs_layer_weights.txt", {0: ws[0], 10: [*ws[10][:3], w, *ws[10][4:]]})
    _refused(folder, tmp_path, "outside \\[0, 1\\]")


def test_huge_files_absurd_layer_counts_and_gigantic_matrices_are_refused(tmp_path, monkeypatch):
    folder = tmp_path / "logs"
    write_logs(folder)
    monkeypatch.setattr(authors_format, "MAX_CSV_BYTES", 1000)
    _refused(folder, tmp_path, "info_17L.csv is .* MiB; at most")
    monkeypatch.undo()
    (folder / "layer_losses_17L.csv").write_text(",".join(f"Layer_{i}" for i in range(500)) + "\n")
    _refused(folder, tmp_path, "at most 64 layers")
    write_logs(folder)
    text = (folder / "all_epochs_layer_weights.txt").read_text()
    # a layer that claims a gigantic W: refused from its header line, before any value is read
    (folder / "all_epochs_layer_weights.txt").write_text(text.replace("(20, 10)", "(9000000, 10)", 1))
    _refused(folder, tmp_path, "at most 4096 channels")
    (folder / "all_epochs_layer_weights.txt").write_text(text.replace("(20, 10)", "(30, 10)", 1))
    _refused(folder, tmp_path, "weights for its 30 channels")
    lines = (folder / "info_17L.csv").read_text().splitlines()
    write_logs(folder)
    (folder / "info_17L.csv").write_text("\n".join([lines[0], *lines[1:]] + ["13" + lines[1][1:]] * 20000) + "\n")
    _refused(folder, tmp_path, "at most 10000 epochs|rows")


def test_binary_or_unreadable_csv_is_refused(tmp_path):
    folder = tmp_path / "logs"
    write_logs(folder)
    (folder / "layer_losses_17L.csv").write_bytes(b"Layer_0,Layer_1\n1.0,\x002.0\n")
    _refused(folder, tmp_path, "is not a number")
    (folder / "layer_losses_17L.csv").write_text("Layer_0\n" + "1" * 200_000 + "\n")
    _refused(folder, tmp_path, "not a CSV file their script wrote")
    (folder / "layer_losses_17L.csv").write_bytes(b"\xff\xfe\x00binary")
    _refused(folder, tmp_path, "is not text")


def test_a_weights_file_cut_short_or_reordered_is_refused(tmp_path):
    folder = tmp_path / "logs"
    write_logs(folder)
    text = (folder / "all_epochs_layer_weights.txt").read_text()
    (folder / "all_epochs_layer_weights.txt").write_text(text[: len(text) // 2 + 37])
    with pytest.raises(AuthorsLogsError):
        read_logs(folder)
    (folder / "all_epochs_layer_weights.txt").write_text(text.replace("Class 3:", "Class 4:", 1))
    with pytest.raises(AuthorsLogsError, match="out of place"):
        read_logs(folder)


def test_cli_import_logs_and_its_refusal(logs, tmp_path):
    folder, _ = logs
    env = {"PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "ffviz", "import-logs", str(folder), "--runs-dir",
                           str(tmp_path / "runs"), "--dataset", "cifar10"], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"status": "finished"' in done.stdout
    done = subprocess.run([sys.executable, "-m", "ffviz", "import-logs", str(tmp_path), "--runs-dir",
                           str(tmp_path / "runs2")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 2 and "not a folder of the authors'" in done.stderr


def test_the_apps_worker_accepts_their_file_names_only(logs, tmp_path):
    folder, _ = logs
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    run_dir, why = import_logs_in_process(files, tmp_path / "up")
    assert why == "" and (run_dir / "snapshots" / "epoch_0010.npz").exists()
    run_dir, why = import_logs_in_process({**files, "evil.sh": b"rm -rf /"}, tmp_path / "up2")
    assert run_dir is None and "not one of the files" in why
    run_dir, why = import_logs_in_process({"info_17L.csv": b"x" * (9 * 2**20)}, tmp_path / "up3")
    assert run_dir is None and "at most 8 MiB" in why
    del files["info_17L.csv"]
    run_dir, why = import_logs_in_process(files, tmp_path / "up4")
    assert run_dir is None and "not a folder of the authors'" in why and not any((tmp_path / "up4").iterdir())


def test_layer_widths_match_the_resnet_pattern():
    assert len(layer_widths()) == 17


def test_every_page_opens_an_imported_log(runs, logs):
    """Under AppTest: every page draws the imported run without an exception; the view pages scrub the epochs with
    a W, the Train page draws the logged losses and accuracies."""
    from streamlit.testing.v1 import AppTest

    from pages.common.frame.keys import PAGES

    folder, ws = logs
    run_dir = import_logs(folder, runs, dataset="cifar10")
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180).run()
    assert at.session_state["run"] == run_dir.name
    for page in PAGES:
        at.switch_page(page.script).run()
        assert not at.exception, f"{page.name}: {[e.value for e in at.exception]}"
    at.switch_page("pages/assignments.py").run()
    assert at.select_slider(key="asg_epoch").options == ["0", "10"] and at.select_slider(key="asg_epoch").value == 10
    at.switch_page("pages/train.py").run()
    assert "Loss of each layer (mean of each epoch)" in at.get("plotly_chart")[0].proto.spec
