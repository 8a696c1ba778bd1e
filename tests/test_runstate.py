"""One authority on a run's state, from its folder alone: meta.json, the heartbeat, the launcher's record."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from ffviz.store.runstate import HEARTBEAT, LAUNCH, PID_REUSE_SECONDS, STALE_SECONDS, Heartbeat, queued_runs, run_state
from ffviz.store.storage import atomic_write_json

DEAD_PID = 2 ** 22 + 12345  # above Linux's default pid_max: no such process


def folder(tmp_path, name="run", **meta):
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text("{}")
    atomic_write_json(d / "meta.json", meta)
    return d


def beat(d, *, pid, host=None, age=0.0):
    atomic_write_json(d / HEARTBEAT, {"pid": pid, "host": host or socket.gethostname(), "time": time.time()})
    if age:
        t = time.time() - age
        os.utime(d / HEARTBEAT, (t, t))


@pytest.mark.parametrize("status", ["queued", "finished", "stopped", "failed", "interrupted"])
def test_a_written_state_that_needs_no_process_is_read_as_it_is(tmp_path, status):
    assert run_state(folder(tmp_path, status=status)) == status


def test_a_run_is_alive_while_its_heartbeat_names_a_live_process(tmp_path):
    d = folder(tmp_path, status="running")
    beat(d, pid=os.getpid())
    assert run_state(d) == "running"
    atomic_write_json(d / "meta.json", {"status": "paused"})
    assert run_state(d) == "paused"
    beat(d, pid=DEAD_PID)  # on this host the pid decides at once, however fresh the beat
    assert run_state(d) == "interrupted"
    beat(d, pid=os.getpid(), age=PID_REUSE_SECONDS + 5)  # a live pid, but silent for a minute: reused, not the run
    assert run_state(d) == "interrupted"


def test_a_run_on_another_host_is_judged_by_its_heartbeats_age(tmp_path):
    d = folder(tmp_path, status="running")
    beat(d, pid=DEAD_PID, host="gpu-node-7")
    assert run_state(d) == "running"
    beat(d, pid=DEAD_PID, host="gpu-node-7", age=STALE_SECONDS + 5)
    assert run_state(d) == "interrupted"


def test_an_old_run_without_heartbeat_falls_back_to_its_meta_pid(tmp_path):
    assert run_state(folder(tmp_path, "a", status="running", pid=os.getpid())) == "running"
    assert run_state(folder(tmp_path, "b", status="running", pid=DEAD_PID)) == "interrupted"
    assert run_state(folder(tmp_path, "c", status="paused", pid=None)) == "interrupted"
    assert run_state(folder(tmp_path, "d")) == "interrupted"  # no status at all: nothing to trust


def test_a_launched_run_is_starting_while_its_launcher_lives(tmp_path):
    d = folder(tmp_path, status="starting", launched_at=time.time())
    assert run_state(d) == "starting"  # claimed a moment ago: launch.json not written yet
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        atomic_write_json(d / LAUNCH, {"pid": proc.pid, "host": socket.gethostname()})
        assert run_state(d) == "starting"
    finally:
        proc.kill()
        proc.wait()
    assert run_state(d) == "interrupted"
    # a launcher that handed the run to a scheduler and returned 0: starting for a grace period, then not
    atomic_write_json(d / LAUNCH, {"pid": proc.pid, "host": socket.gethostname(), "exit": 0})
    assert run_state(d) == "starting"
    atomic_write_json(d / "meta.json", {"status": "starting", "launched_at": time.time() - 3600})
    assert run_state(d) == "interrupted"
    atomic_write_json(d / LAUNCH, {"pid": proc.pid, "host": socket.gethostname(), "exit": 2})
    atomic_write_json(d / "meta.json", {"status": "starting", "launched_at": time.time()})
    assert run_state(d) == "interrupted"


def test_the_queue_is_on_disk_first_come_first(tmp_path):
    late = folder(tmp_path, "a-late", status="queued", queued_at=200.0)
    early = folder(tmp_path, "z-early", status="queued", queued_at=100.0)
    folder(tmp_path, "running", status="running")
    assert queued_runs(tmp_path) == [early, late]


def test_the_heartbeat_thread_rewrites_the_file(tmp_path):
    d = folder(tmp_path, status="running")
    hb = Heartbeat(d, interval=0.05).start()
    try:
        first = (d / HEARTBEAT).stat().st_mtime_ns
        deadline = time.monotonic() + 10
        while (d / HEARTBEAT).stat().st_mtime_ns == first:
            assert time.monotonic() < deadline, "no second beat"
            time.sleep(0.02)
        assert run_state(d) == "running"
    finally:
        hb.stop()


def test_the_cli_lists_runs_in_the_state_the_authority_gives(tmp_path, capsys):
    from ffviz.cli import main

    folder(tmp_path, "20260101-000000-done", status="finished", epochs_done=3)
    folder(tmp_path, "20260102-000000-killed", status="running", pid=DEAD_PID, epochs_done=1)
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "interrupted" and lines[0].endswith("killed")
    assert lines[1].split()[:2] == ["finished", "3"]
