"""The file-keyed memo behind the pages' reads of run folders: reused while the files stay as they were, rebuilt as
soon as one changes, and never trusted for a file still being written."""

from __future__ import annotations

import json
import os
import time

import pytest

from ffviz.store import filecache
from ffviz.store.filecache import cached_build, cached_json


@pytest.fixture(autouse=True)
def _fresh():
    filecache.clear()
    yield
    filecache.clear()


def _age(path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_a_settled_file_is_built_once_and_rebuilt_when_it_changes(tmp_path):
    f = tmp_path / "meta.json"
    f.write_text(json.dumps({"status": "finished"}))
    _age(f, 10)
    builds = []

    def build():
        builds.append(1)
        return json.loads(f.read_text())

    assert cached_build("k", [f], build) == {"status": "finished"}
    assert cached_build("k", [f], build) == {"status": "finished"}
    assert len(builds) == 1
    f.write_text(json.dumps({"status": "running"}))  # a new size and mtime
    _age(f, 10)
    assert cached_build("k", [f], build) == {"status": "running"}
    assert len(builds) == 2


def test_a_file_written_just_now_is_read_afresh_every_time(tmp_path):
    f = tmp_path / "meta.json"
    f.write_text("{}")
    builds = []
    for _ in range(3):
        cached_build("k", [f], lambda: builds.append(1))
    assert len(builds) == 3


def test_a_missing_file_and_a_replaced_one_are_told_apart(tmp_path):
    f = tmp_path / "test.json"
    _ = cached_build("k", [f], lambda: "absent")
    f.write_text('{"acc": 1}')
    _age(f, 10)
    assert cached_build("k", [f], lambda: "present") == "present"
    replacement = tmp_path / ".tmp"
    replacement.write_text('{"acc": 2}')  # same size, same mtime, another inode: as an atomic write leaves it
    _age(replacement, 10)
    os.utime(replacement, ns=(os.stat(f).st_atime_ns, os.stat(f).st_mtime_ns))
    os.replace(replacement, f)
    assert cached_build("k", [f], lambda: "replaced") == "replaced"


def test_cached_json_hands_out_copies_and_passes_errors_on(tmp_path):
    f = tmp_path / "meta.json"
    f.write_text(json.dumps({"status": "finished"}))
    _age(f, 10)
    first = cached_json(f)
    first["status"] = "changed by a caller"
    assert cached_json(f) == {"status": "finished"}
    with pytest.raises(FileNotFoundError):
        cached_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError):
        cached_json(tmp_path / "bad.json")
