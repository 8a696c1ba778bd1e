"""The warm launcher: a spare run process (torch imported, the classroom data loaded) takes the next run at once; each
spare serves one run only, a new one replaces it, one that is killed is replaced, and the thread plan still comes
before torch loads. The run's stage is written in its folder while it starts."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from ffviz.config import RunConfig
from ffviz.runner.launcher import Launcher
from ffviz.runner.manager import RunManager
from ffviz.store.folder import RunFolder
from ffviz.store.stage import STAGES, read_stage, stage_text, write_stage
from ffviz.store.storage import read_json


def tiny(**kw) -> RunConfig:
    return RunConfig(**{**dict(preset="classroom-mini", epochs=1, batch_size=256, image_size=8, probe_size=8,
                               device="cpu"), **kw})


def wait_for(predicate, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def warm(tmp_path):
    m = RunManager(tmp_path, max_running=2, spares=1, launcher=Launcher(threads=1, niceness=0), tick_seconds=0.2)
    yield m
    m.shutdown()


def spare_ready(m: RunManager) -> bool:
    log = m.root / ".spare.log"
    return m.warm.ready() == 1 and log.exists() and b"ready" in log.read_bytes()


def test_a_spare_trains_the_next_run_and_each_run_gets_its_own(warm):
    wait_for(lambda: spare_ready(warm), what="the first spare")
    pids = []
    for _ in range(2):
        spare = warm.warm.pids()[0]
        run_id = warm.submit(tiny())
        assert warm.wait(run_id, timeout=120)
        folder = RunFolder(warm.root / run_id)
        launch = read_json(folder.launch)
        meta = read_json(folder.meta)
        assert meta["status"] == "finished", (folder.process_log.read_text(), meta)
        assert launch["warm"] is True and launch["pid"] == spare
        wait_for(lambda f=folder: "exit" in read_json(f.launch), what="the run's process reaped")
        assert read_json(folder.launch)["exit"] == 0
        # the thread plan applied before torch loaded, with the launcher's count
        assert meta["threads"]["threads"] == 1 and meta["threads"]["set_before_torch"] is True
        assert "ready" not in folder.process_log.read_text()  # the spare's own output stayed in its log
        pids.append(spare)
        wait_for(lambda s=spare: spare_ready(warm) and warm.warm.pids()[0] != s, what="the next spare")
    assert pids[0] != pids[1]  # never one process for two runs
    assert warm.warm.started >= 3


def test_a_killed_spare_is_replaced_and_a_run_without_one_starts_cold(tmp_path, warm):
    wait_for(lambda: spare_ready(warm), what="the first spare")
    old = warm.warm.pids()[0]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: warm.warm.pids() and warm.warm.pids()[0] != old, what="a new spare")
    cold = RunManager(tmp_path / "cold", max_running=1, spares=0, launcher=Launcher(threads=1, niceness=0))
    try:
        run_id = cold.submit(tiny())
        assert read_stage(cold.root / run_id)["stage"] in ("process", "first_batch")
        assert cold.wait(run_id, timeout=120)
        assert read_json(RunFolder(cold.root / run_id).launch)["warm"] is False
        assert read_json(RunFolder(cold.root / run_id).meta)["status"] == "finished"
    finally:
        cold.shutdown()


def test_shutdown_ends_the_spare(tmp_path):
    m = RunManager(tmp_path, max_running=1, spares=1, launcher=Launcher(threads=1, niceness=0))
    wait_for(lambda: m.warm.ready() == 1, what="a spare")
    pid = m.warm.pids()[0]
    m.shutdown()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_launcher_template_keeps_no_spares(tmp_path):
    m = RunManager(tmp_path, max_running=1, spares=1, launcher=Launcher(template="env {command}", niceness=0))
    try:
        assert m.warm.size == 0 and m.warm.ready() == 0
    finally:
        m.shutdown()


def test_stages_read_back_and_say_how_long(tmp_path: Path):
    assert read_stage(tmp_path) is None and stage_text(None) is None
    write_stage(tmp_path, "data", warm=True)
    stage = read_stage(tmp_path)
    assert stage["stage"] == "data" and stage["warm"] is True
    assert stage_text(stage, now=stage["time"] + 1.25) == f"{STAGES['data']} (1.2 s)"
    with pytest.raises(ValueError, match="unknown stage"):
        write_stage(tmp_path, "nonsense")
