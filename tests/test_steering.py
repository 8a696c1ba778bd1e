"""Steering through the run folder: what a server writes to control.json, a run's FileControl obeys, once each."""

from __future__ import annotations

import pytest

from ffviz.runner.steering import CONTROL, ControlFile, FileControl


def test_commands_written_by_the_server_reach_the_run_in_order_once(tmp_path):
    server, run = ControlFile(tmp_path), FileControl(tmp_path)
    server.pause()
    server.set(lambda_entropy=0.0, lr=0.01)
    run.poll()
    assert run.paused and run.take_actions() == ["pause"]
    assert run.take_changes() == {"lambda_entropy": 0.0, "lr": 0.01}
    run.poll()  # nothing new: nothing applied twice
    assert run.take_actions() == [] and run.take_changes() == {}
    server.step_epoch()
    server.stop()
    run.poll()
    assert not run.paused and run.stop_requested and run.take_actions() == ["step", "stop"]


def test_a_paused_run_wakes_on_a_resume_written_to_the_file(tmp_path):
    import threading

    server, run = ControlFile(tmp_path), FileControl(tmp_path)
    server.pause()
    result = []
    waiter = threading.Thread(target=lambda: result.append(run.wait_between_batches()))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive(), "a paused run waits"
    server.resume()
    waiter.join(10)
    assert result == [True] and run.take_actions() == ["pause", "resume"]


def test_a_new_process_does_not_obey_the_last_ones_commands(tmp_path):
    server = ControlFile(tmp_path)
    server.stop()
    server.clear()
    assert not (tmp_path / CONTROL).exists()
    assert not FileControl(tmp_path).stop_requested


def test_bad_values_are_refused_by_the_writer_and_a_torn_file_is_ignored(tmp_path):
    server = ControlFile(tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        server.set(batch_size=3)
    with pytest.raises(ValueError, match=r"lr=-1 must be in \[1e-06, 10.0\]"):
        server.set(lr=-1)
    (tmp_path / CONTROL).write_text('{"seq": 1, "comm')
    run = FileControl(tmp_path)
    assert not run.paused and run.take_actions() == []
