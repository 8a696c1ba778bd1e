"""RunManager: runs live in worker threads, beyond a bound they queue, a failure stays in its run."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

import pytest

from ffviz.config import RunConfig
from ffviz.manager import RunManager
from ffviz.model.network import FFNet
from ffviz.runs import RunReader
from ffviz.trainer import Trainer


def tiny(**kw) -> RunConfig:
    return RunConfig(**{**dict(preset="classroom-mini", epochs=1, batch_size=256, image_size=8, probe_size=8,
                               device="cpu"), **kw})


def test_runs_queue_beyond_the_bound_and_all_finish(tmp_path) -> None:
    m = RunManager(tmp_path, max_running=1)
    try:
        first = m.submit(tiny(), name="one")
        second = m.submit(tiny(seed=3), name="two")
        assert m.queue_position(second) == 1
        assert RunReader(tmp_path / second).meta["status"] == "queued"  # listed before it starts
        assert m.wait(first, 120) and m.wait(second, 120)
        assert m.info(first).state == "finished" and m.info(second).state == "finished"
        assert RunReader(tmp_path / second).meta["status"] == "finished"
        assert m.active() == []
    finally:
        m.shutdown()


def test_a_failing_run_leaves_the_others_alone(tmp_path) -> None:
    m = RunManager(tmp_path, max_running=2)
    try:
        bad = m.submit(tiny(dataset="cifar10", data_root=str(tmp_path / "nodata"), preset="classroom-mini",
                            image_size=0))
        good = m.submit(tiny())
        assert m.wait(good, 120) and m.wait(bad, 120)
        assert m.info(good).state == "finished"
        assert m.info(bad).state == "failed" and "cifar" in m.info(bad).error.lower()
        assert RunReader(tmp_path / bad).meta["status"] == "failed"
    finally:
        m.shutdown()


def test_cancel_a_queued_run_and_continue_a_finished_one(tmp_path) -> None:
    m = RunManager(tmp_path, max_running=1)
    try:
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
    finally:
        m.shutdown()


def test_bound_must_be_positive(tmp_path) -> None:
    with pytest.raises(ValueError, match="max_running"):
        RunManager(tmp_path, max_running=0)


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_ended_runs_leave_no_threads_trainers_or_records_behind(tmp_path) -> None:
    """Finished, paused-then-stopped, stopped mid-run, cancelled while queued and failed runs: afterwards no run
    thread is alive, no Trainer or network is left in memory, and the manager remembers only `keep_ended` runs."""
    gc.collect()
    assert not [o for o in gc.get_objects() if type(o) in (Trainer, FFNet)], "left over from another test"
    m = RunManager(tmp_path, max_running=2, keep_ended=2)
    try:
        finished = m.submit(tiny())
        paused = m.submit(tiny(epochs=50))
        queued = m.submit(tiny())  # third: waits for a slot
        m.cancel(queued)
        m.control(paused).pause()
        _wait_for(lambda: m.info(paused).state == "paused")
        m.cancel(paused)  # stop while paused: the thread must wake up and end
        assert m.wait(finished, 120) and m.wait(paused, 120)
        running = m.submit(tiny(epochs=50))
        _wait_for(lambda: m.info(running).state == "running")
        m.cancel(running)
        failed = m.submit(tiny(dataset="cifar10", data_root=str(tmp_path / "nodata"), image_size=0))
        assert m.wait(running, 120) and m.wait(failed, 120)
        assert RunReader(tmp_path / paused).meta["status"] == "stopped"
        assert RunReader(tmp_path / failed).meta["status"] == "failed"
        _wait_for(lambda: not [t for t in threading.enumerate() if t.name.startswith("ffviz-run")], 30)
        gc.collect()
        assert not [o for o in gc.get_objects() if type(o) in (Trainer, FFNet)]
        assert m.active() == []
        # only the two most recent ended runs are remembered; the others' folders still say how they ended
        assert m.info(failed) is not None and m.info(running) is not None
        assert m.info(finished) is None and m.info(paused) is None and m.info(queued) is None
        assert m.wait(finished, 0)  # a forgotten run has ended
        assert RunReader(tmp_path / finished).meta["status"] == "finished"
    finally:
        m.shutdown()


@pytest.mark.skipif(not hasattr(os, "setpriority") or sys.platform != "linux", reason="per-thread niceness: Linux")
def test_training_threads_run_at_the_managers_niceness(tmp_path) -> None:
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    nicer = min(ours + 5, 19)  # raising niceness needs no privilege
    m = RunManager(tmp_path, max_running=1, niceness=nicer)
    try:
        run_id = m.submit(tiny(epochs=50))
        _wait_for(lambda: m.info(run_id).state == "running")
        (thread,) = [t for t in threading.enumerate() if t.name == f"ffviz-run-{run_id}"]
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == nicer
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ours  # the caller's is left alone
    finally:
        m.shutdown()
