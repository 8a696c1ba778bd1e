"""The run catalogue: table rows, export and import of runs, untrusted uploads, delete, interrupted runs."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from ffviz.config import RunConfig
from ffviz.data import load_dataset
from ffviz.method.trainer import Trainer
from ffviz.runner.run_writer import RunWriter
from ffviz.store.archive import UploadError, delete_run, export_archive, import_upload
from ffviz.store.catalog import history_csv, scan_runs, summarize
from ffviz.store.runs import RunReader, update_meta


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("local") / "r1"
    cfg = RunConfig(preset="classroom-mini", epochs=2, batch_size=256, image_size=8, probe_size=8, device="cpu")
    Trainer(cfg, data=load_dataset("digits", image_size=8), callbacks=[RunWriter(run_dir, name="demo")]).fit()
    return run_dir


def comparable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("source", "id", "size MB")}


def test_summary_row(run) -> None:
    s = summarize(run, "local")
    row = s.as_row()
    assert row["name"] == "demo" and row["mode"] == "learnable" and row["epochs"] == "2/2"
    assert row["status"] == "finished" and row["parameters"] > 0 and row["test acc %"] is not None
    assert s.best_val_acc == max(e.acc_alpha for e in RunReader(run).epochs[1:])


def test_download_then_upload_gives_the_same_row(run, tmp_path) -> None:
    data = export_archive(run)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
    assert "r1/checkpoints/final.pt" in names and "r1/checkpoints/last.pt" not in names
    new_dir = import_upload(data, tmp_path / "uploaded", filename="r1.zip")
    rows = scan_runs({"local": run.parent, "uploaded": tmp_path / "uploaded"})
    by_source = {r.source: r.as_row() for r in rows}
    assert comparable(by_source["local"]) == comparable(by_source["uploaded"])
    assert RunReader(new_dir).test == RunReader(run).test


def test_upload_a_bare_checkpoint(run, tmp_path) -> None:
    data = (run / "checkpoints" / "final.pt").read_bytes()
    new_dir = import_upload(data, tmp_path, filename="model.pt")
    s = summarize(new_dir, "uploaded")
    assert s.status == "finished" and s.epochs_done == 2 and s.preset == "classroom-mini"


class Marker:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_hostile_and_broken_uploads_are_refused(run, tmp_path) -> None:
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save({"format": "ffviz-checkpoint", "version": 1, "x": Marker(str(marker))}, buf, pickle_module=pickle)
    good_zip = export_archive(run)
    bad_cases = {
        "evil.pt": buf.getvalue(),
        "empty.pt": b"",
        "random.bin": bytes(range(256)) * 50,
        "truncated.zip": good_zip[: len(good_zip) // 2],
    }
    for name, member in {"traversal.zip": "r1/../../escape.txt", "extra.zip": "r1/run.sh",
                         "two.zip": "other/config.json"}.items():
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w") as z:
            z.writestr("r1/config.json", (run / "config.json").read_text())
            z.writestr(member, "x")
        bad_cases[name] = b.getvalue()
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("r1/config.json", json.dumps({"mode": "nonsense"}))
    bad_cases["badconfig.zip"] = b.getvalue()
    dest = tmp_path / "uploads"
    for name, blob in bad_cases.items():
        with pytest.raises(UploadError) as e:
            import_upload(blob, dest, filename=name)
        assert name in str(e.value)
    assert not marker.exists()
    assert not (tmp_path / "escape.txt").exists()
    assert scan_runs({"uploaded": dest}) == []  # nothing half-imported


def test_delete_refuses_shipped_runs(run, tmp_path) -> None:
    with pytest.raises(PermissionError, match="ships with ffviz"):
        delete_run(run, protected_roots=[run.parent])
    copy = import_upload(export_archive(run), tmp_path, filename="copy.zip")
    delete_run(copy, protected_roots=[run.parent])
    assert not copy.exists()


def test_a_run_whose_process_died_is_interrupted(run, tmp_path) -> None:
    copy = import_upload(export_archive(run), tmp_path, filename="copy.zip")
    update_meta(copy, status="running", pid=2 ** 22 + 12345)  # no such process
    assert summarize(copy, "local").status == "interrupted"


def test_history_csv_has_a_row_per_epoch(run) -> None:
    text = history_csv(RunReader(run))
    lines = text.strip().splitlines()
    assert len(lines) == 1 + 3 and "acc_alpha" in lines[0] and "val_acc_8" in lines[0]


def test_retention_keeps_the_newest_and_never_an_active_run(run, tmp_path) -> None:
    from ffviz.store.retention import enforce_retention

    dirs = [import_upload(export_archive(run), tmp_path, filename=f"c{i}.zip") for i in range(4)]
    for i, d in enumerate(dirs):  # uploads age by the server's time of receipt, stamped at import
        update_meta(d, uploaded=f"2026-01-0{i + 1}T00:00:00")
    update_meta(dirs[0], status="running", pid=os.getpid())  # the oldest, but still training in this process
    removed = enforce_retention(tmp_path, max_runs=2, active_ids={dirs[0].name})
    assert removed == [dirs[1]]
    assert dirs[0].exists() and dirs[2].exists() and dirs[3].exists()


def test_uploads_over_the_stated_limit_are_refused(run, tmp_path, monkeypatch) -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    from ffviz.store import archive

    # the limit the upload box states is the one Streamlit enforces (server.maxUploadSize, MB)
    server = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())["server"]
    assert archive.MAX_UPLOAD_BYTES == server["maxUploadSize"] * 1024 * 1024
    blob = export_archive(run)
    monkeypatch.setattr(archive, "MAX_UPLOAD_BYTES", len(blob) - 1)
    with pytest.raises(UploadError, match="limited to"):
        import_upload(blob, tmp_path / "uploads", filename="big.zip")
    assert scan_runs({"uploaded": tmp_path / "uploads"}) == []
