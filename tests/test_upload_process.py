"""Uploads checked in a process of their own: the server's page path imports no torch, and a refusal still says why
and leaves nothing behind."""

from __future__ import annotations

import json

import pytest
from run_support import finished_tiny_run

from ffviz.server.upload_process import import_in_process
from ffviz.store.archive import UploadError, export_archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> bytes:
    return export_archive(finished_tiny_run(tmp_path_factory.mktemp("src"), probe_size=4))


def test_a_run_archive_is_imported_by_a_worker_and_owned_by_its_uploader(tmp_path, archive):
    run_dir = import_in_process(archive, tmp_path / "uploaded", filename="r.zip", owner="tok123")
    assert run_dir.parent == tmp_path / "uploaded" and (run_dir / "config.json").exists()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["owner"] == "tok123" and meta["uploaded"]


def test_a_refusal_crosses_back_with_its_reason_and_leaves_nothing(tmp_path, archive):
    dest = tmp_path / "uploaded"
    with pytest.raises(UploadError, match="empty"):
        import_in_process(b"", dest, filename="nothing.pt")
    with pytest.raises(UploadError, match="truncated|not a readable|could not be read"):
        import_in_process(archive[: len(archive) // 2], dest, filename="half.zip")
    assert not any(dest.iterdir())


def test_a_worker_that_fails_midway_leaves_nothing_behind(tmp_path):
    """The authors' import and uploads share run_worker: a worker that wrote part of a run folder and then died is
    cleaned up, and its last error line is the reason."""
    import sys

    from ffviz.server.upload_process import STAGE, run_worker

    dest = tmp_path / "uploaded"
    dest.mkdir()
    (dest / "classmates-upload").mkdir()  # finished meanwhile: a failure elsewhere must not touch it
    script = ("import pathlib, sys; pathlib.Path(sys.argv[1], 'half-written').mkdir(parents=True); "
              "print('error: the network does not fit', file=sys.stderr); sys.exit(2)")
    answer, why = run_worker([sys.executable, "-c", script, STAGE], dest)
    assert answer is None and why == "the network does not fit"
    assert [p.name for p in dest.iterdir() if not p.name.startswith(".")] == ["classmates-upload"]
    answer, why = run_worker([sys.executable, "-c", 'print(\'{"run": "x"}\')'], dest)
    assert answer == {"run": "x"} and why == ""
