"""RunManager: each run is a process of its own; beyond the bound runs queue on disk; steering crosses the process
boundary through the run folder; a killed run, or a killed server, harms nothing else."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ffviz.config import RunConfig
from ffviz.runner.launcher import Launcher
from ffviz.runner.manager import RunManager
from ffviz.store.runs import RunReader
from ffviz.store.runstate import HEARTBEAT, pid_alive, run_state
from ffviz.store.storage import read_json

REPO = Path(__file__).resolve().parents[1]


def tiny(**kw) -> RunConfig:
    return RunConfig(**{**dict(preset="classroom-mini", epochs=1, batch_size=256, image_size=8, probe_size=8,
                               device="cpu"), **kw})


def long(**kw) -> RunConfig:
    """Trains long enough to be steered and killed (a classroom-mini epoch on 8x8 digits takes well under 1 s)."""
    return tiny(epochs=300, batch_size=64, **kw)


def wait_for(predicate, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def run_pid(root: Path, run_id: str) -> int:
    return read_json(root / run_id / HEARTBEAT)["pid"]


def epochs_done(root: Path, run_id: str) -> int:
    path = root / run_id / "epochs.jsonl"
    return path.read_bytes().count(b"\n") - 1 if path.exists() else -1


@pytest.fixture
def manager(tmp_path):
    made = []

    def make(**kw) -> RunManager:
        m = RunManager(tmp_path, **{"max_running": 1, **kw})
        made.append(m)
        return m
    yield make
    for m in made:
        m.shutdown()


def test_a_run_is_a_process_of_its_own_and_runs_beyond_the_bound_queue(tmp_path, manager) -> None:
    m = manager(max_running=1)
    first = m.submit(tiny(), name="one")
    second = m.submit(tiny(seed=3), name="two")
    assert m.queue_position(second) == 1 and m.info(second).state == "queued"
    assert RunReader(tmp_path / second).meta["status"] == "queued"  # listed before it starts
    assert m.wait(first, 120) and m.wait(second, 120)
    assert m.info(first).state == "finished" and m.info(second).state == "finished"
    for run_id in (first, second):
        beat = read_json(tmp_path / run_id / HEARTBEAT)
        assert beat["pid"] != os.getpid()  # trained in another process, which has ended
        assert "run folder:" in (tmp_path / run_id / "process.log").read_text()  # its output is kept
    assert m.active() == []


def test_a_failing_run_leaves_the_others_alone(tmp_path, manager) -> None:
    m = manager(max_running=2)
    bad = m.submit(tiny(dataset="cifar10", data_root=str(tmp_path / "nodata"), image_size=0))
    good = m.submit(tiny())
    assert m.wait(good, 120) and m.wait(bad, 120)
    assert m.info(good).state == "finished"
    assert m.info(bad).state == "failed" and "cifar" in m.info(bad).error.lower()
    assert RunReader(tmp_path / bad).meta["status"] == "failed"


def test_cancel_a_queued_run_and_continue_a_finished_one(tmp_path, manager) -> None:
    m = manager(max_running=1)
    first = m.submit(tiny())
    queued = m.submit(tiny())
    m.cancel(queued)
    assert m.info(queued).state == "stopped" and m.queue_position(queued) is None
    assert m.wait(first, 120)
    again = m.submit_continue(tmp_path / first, epochs=2)
    assert again == first
    assert m.wait(again, 120)
    assert m.info(first).state == "finished"
    assert [e.epoch for e in RunReader(tmp_path / first).epochs] == [0, 1, 2]
    assert m.info(queued).state == "stopped"  # never started


def test_bound_must_be_positive(tmp_path) -> None:
    with pytest.raises(ValueError, match="max_running"):
        RunManager(tmp_path, max_running=0)


def test_steering_crosses_the_process_boundary_and_is_recorded(tmp_path, manager) -> None:
    m = manager(max_running=1)
    run_id = m.submit(long())
    wait_for(lambda: m.info(run_id).state == "running" and epochs_done(tmp_path, run_id) >= 1, what="running")
    m.control(run_id).set(lambda_entropy=0.0)
    wait_for(lambda: "set" in [e.action for e in RunReader(tmp_path / run_id).events], 60, "the change recorded")
    m.control(run_id).pause()
    wait_for(lambda: m.info(run_id).state == "paused", 60, "paused")
    paused_at = len(RunReader(tmp_path / run_id).batches)
    time.sleep(1.0)
    assert len(RunReader(tmp_path / run_id).batches) == paused_at, "a paused run trains no batch"
    m.control(run_id).step_epoch()  # one epoch, then paused again
    wait_for(lambda: [e.action for e in RunReader(tmp_path / run_id).events][-1:] == ["pause"]
             and len(RunReader(tmp_path / run_id).events) >= 5, 60, "one epoch then pause")
    m.cancel(run_id)
    assert m.wait(run_id, 60) and m.info(run_id).state == "stopped"
    events = RunReader(tmp_path / run_id).events
    actions = [e.action for e in events]
    assert actions[:1] == ["start"] and actions[-1] == "stop"
    assert actions.index("set") < actions.index("pause") < actions.index("step")
    (change,) = [e for e in events if e.action == "set"]
    assert change.changes == {"lambda_entropy": [0.01, 0.0]}
    epochs = RunReader(tmp_path / run_id).epochs
    assert epochs[-1].lambdas["entropy"] == 0.0  # it trained with the new value


def test_sigkill_of_a_run_process_marks_it_interrupted_and_spares_the_others(tmp_path, manager) -> None:
    m = manager(max_running=2)
    victim, other = m.submit(long()), m.submit(long(seed=5))
    wait_for(lambda: all(m.info(r).state == "running" for r in (victim, other)), what="both running")
    pid = run_pid(tmp_path, victim)
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    wait_for(lambda: m.info(victim).state == "interrupted", 10, "the killed run to read interrupted")
    assert time.monotonic() - t0 < 5
    assert "SIGKILL" in m.info(victim).error
    assert m.info(other).state == "running" and pid_alive(run_pid(tmp_path, other))
    m.cancel(other)
    assert m.wait(other, 60) and m.info(other).state == "stopped"


def test_as_many_runs_train_at_once_as_the_setting_says(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FFVIZ_MAX_RUNNING", "3")
    monkeypatch.delenv("FFVIZ_RUN_THREADS", raising=False)
    m = RunManager(tmp_path)
    try:
        assert m.max_running == 3
        ids = [m.submit(long(seed=i)) for i in range(4)]
        wait_for(lambda: sum(m.info(r).state == "running" for r in ids) == 3, what="three running")
        states = [m.info(r).state for r in ids]
        assert states.count("queued") == 1 and m.queue_position(ids[3]) == 1
        pid = run_pid(tmp_path, ids[0])
        # each run gets its share of threads and a lower priority than this (the server's) process
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if sys.platform == "linux" else []
        if env:
            assert f"OMP_NUM_THREADS={m.launcher.threads}".encode() in env
        if hasattr(os, "getpriority"):
            assert os.getpriority(os.PRIO_PROCESS, pid) > os.getpriority(os.PRIO_PROCESS, 0)
        m.cancel(ids[0])
        wait_for(lambda: m.info(ids[3]).state in ("starting", "running"), what="the queued run to start")
        assert sum(m.info(r).state in ("starting", "running") for r in ids) <= 3
    finally:
        m.shutdown()


SERVER = textwrap.dedent("""
    import json, sys, time
    from ffviz.config import RunConfig
    from ffviz.runner.manager import RunManager
    cfg = RunConfig(preset="classroom-mini", epochs=300, batch_size=64, image_size=8, probe_size=8, device="cpu")
    m = RunManager(sys.argv[1], max_running=1)
    ids = [m.submit(cfg, name="trains"), m.submit(cfg.replace(epochs=1), name="waits")]
    print(json.dumps(ids), flush=True)
    time.sleep(600)
""")


def test_the_server_can_be_killed_and_restarted_while_one_run_trains_and_one_waits(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path)], env=env, stdout=subprocess.PIPE,
                              text=True)
    try:
        trains, waits = json.loads(server.stdout.readline())
        wait_for(lambda: run_state(tmp_path / trains) == "running" and epochs_done(tmp_path, trains) >= 1,
                 what="the first run to train an epoch")
        server.send_signal(signal.SIGKILL)
        server.wait(30)
    finally:
        if server.poll() is None:
            server.kill()
    # no server: the run trains on, the other waits in the queue on disk
    done = epochs_done(tmp_path, trains)
    wait_for(lambda: epochs_done(tmp_path, trains) > done, 60, "the orphaned run to go on training")
    assert run_state(tmp_path / waits) == "queued"
    m = RunManager(tmp_path, max_running=1)  # the restarted server
    try:
        assert m.info(trains).state == "running"  # adopted: it still holds the one slot
        assert m.info(waits).state == "queued" and m.queue_position(waits) == 1
        os.kill(run_pid(tmp_path, trains), signal.SIGKILL)  # its process dies while this server is up
        wait_for(lambda: m.info(trains).state == "interrupted", 10, "interrupted")
        assert m.wait(waits, 120) and m.info(waits).state == "finished"  # the queue went on
        last = RunReader(tmp_path / trains).epochs[-1].epoch
        m.submit_continue(tmp_path / trains, epochs=last + 1)  # Resume, from its last checkpoint
        assert m.wait(trains, 120) and m.info(trains).state == "finished"
        assert [e.epoch for e in RunReader(tmp_path / trains).epochs] == list(range(last + 2))
    finally:
        m.shutdown()


def test_the_launcher_template_wraps_the_command(tmp_path) -> None:
    calls = tmp_path / "calls.txt"
    wrapper = tmp_path / "fake-srun.sh"
    # as srun would: take its own option, then run the command it was given
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nshift\nexec "$@"\n')
    wrapper.chmod(0o755)
    runs = tmp_path / "runs"
    m = RunManager(runs, max_running=1, launcher=Launcher(template=f"{wrapper} --gres=gpu:1 {{command}}"))
    try:
        run_id = m.submit(tiny())
        assert m.wait(run_id, 120) and m.info(run_id).state == "finished"
    finally:
        m.shutdown()
    (line,) = calls.read_text().splitlines()
    assert line.startswith("--gres=gpu:1 ") and f"-m ffviz train --run-dir {runs / run_id}" in line


def test_a_launcher_template_without_a_command_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match=r"\{command\}"):
        Launcher(template="srun --gres=gpu:1")


def test_the_torchrun_form_trains_one_run_over_two_processes(tmp_path) -> None:
    """FFVIZ_LAUNCHER='torchrun --nproc-per-node=2 {args}', with torch's own runner on the CPU (gloo)."""
    template = f"{sys.executable} -m torch.distributed.run --standalone --nproc-per-node=2 {{args}}"
    m = RunManager(tmp_path, max_running=1, launcher=Launcher(template=template))
    try:
        run_id = m.submit(tiny(epochs=2, widths=(10, 20), image_size=16, batch_size=64))
        assert m.wait(run_id, 240), "the run did not end"
        assert m.info(run_id).state == "finished", (tmp_path / run_id / "process.log").read_text()[-3000:]
    finally:
        m.shutdown()
    log = (tmp_path / run_id / "process.log").read_text()
    assert "rank 0 of 2" in log
    assert [e.epoch for e in RunReader(tmp_path / run_id).epochs] == [0, 1, 2]


def test_a_process_that_dies_without_a_word_fails_its_run_with_its_output(tmp_path) -> None:
    """A crash before the trainer could write anything (here: a process that prints a traceback and exits 3): the
    run reads failed, and its error quotes the end of process.log, which its page shows."""
    crash = "import sys; print('Traceback (most recent call last):\\nRuntimeError: boom', file=sys.stderr); sys.exit(3)"
    m = RunManager(tmp_path, max_running=1, launcher=Launcher(template=f"{sys.executable} -c {crash!r} {{command}}"))
    try:
        run_id = m.submit(tiny())
        assert m.wait(run_id, 60)
        info = m.info(run_id)
        assert info.state == "failed" and "exit code 3" in info.error and "RuntimeError: boom" in info.error
    finally:
        m.shutdown()


def test_freed_memory_goes_back_to_the_system_on_linux():
    """The scheduler thread trims the heap now and then; on glibc the call exists and succeeds, elsewhere it is a
    no-op that says so."""
    import sys

    from ffviz.runner.memory import release_free_memory

    assert release_free_memory() is sys.platform.startswith("linux")
