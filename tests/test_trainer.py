"""The trainer end to end on tiny digits: determinism, resume, control, records, faults."""

from __future__ import annotations

import dataclasses
import math
import threading

import pytest
import torch

from ffviz.config import RunConfig
from ffviz.data import load_dataset
from ffviz.method.control import RunControl
from ffviz.method.trainer import Callback, Trainer, cosine_lr
from ffviz.records import EpochRecord
from ffviz.runner.run_process import resume
from ffviz.runner.run_writer import RunWriter
from ffviz.store.runs import RunReader

# Timing fields legitimately differ between two runs of the same config.
TIMING = {"time", "images_per_sec", "epoch_seconds"}


@pytest.fixture(scope="module")
def digits8():
    return load_dataset("digits", image_size=8)


def tiny(**kw) -> RunConfig:
    base = dict(preset="classroom-mini", epochs=2, batch_size=128, image_size=8, probe_size=16, device="cpu")
    return RunConfig(**{**base, **kw})


class Collect(Callback):
    def __init__(self) -> None:
        self.batches, self.epochs, self.events, self.snapshots = [], [], [], []
        self.test = None
        self.status = None

    def on_batch(self, trainer, record):
        self.batches.append(record)

    def on_epoch(self, trainer, record, snapshot):
        self.epochs.append(record)
        self.snapshots.append(snapshot)

    def on_event(self, trainer, record):
        self.events.append(record)

    def on_end(self, trainer, status, test):
        self.status, self.test = status, test


def strip(record: EpochRecord) -> dict:
    return {k: v for k, v in dataclasses.asdict(record).items() if k not in TIMING}


def test_records_cover_every_layer_and_epoch_zero(digits8) -> None:
    c = Collect()
    t = Trainer(tiny(), data=digits8, callbacks=[c])
    assert t.fit() == "finished"
    assert [r.epoch for r in c.epochs] == [0, 1, 2]
    first = c.epochs[0]
    assert first.train_ce is None and first.images_per_sec is None  # untrained snapshot
    num_layers = t.model.num_layers
    for r in c.epochs[1:]:
        for name in ("train_ce", "train_acc", "val_ce", "val_acc", "alpha", "temperature", "good_true", "good_wrong",
                     "w_sharpness"):
            assert len(getattr(r, name)) == num_layers, name
        assert math.isclose(sum(r.alpha), 1.0, rel_tol=1e-5)
        assert r.images_per_sec > 0 and r.lr > 0 and r.device.startswith("cpu")
        assert all(sum(c) == w for c, w in zip(r.channels_per_class, [10] + [10] * 4 + [20] * 4, strict=True))
        # every regularizer per layer; weighted terms are the raw terms times the (warmed-up) weights
        assert set(r.train_terms) == set(r.train_terms_w) == {"entropy", "orth"}
        assert all(len(v) == num_layers for v in (*r.train_terms.values(), *r.train_terms_w.values()))
        assert r.train_terms_w["entropy"] == pytest.approx([r.lambdas["entropy"] * v for v in r.train_terms["entropy"]])
        assert r.train_terms_w["orth"] == pytest.approx([r.lambdas["orth"] * r.schedules["orth"] * v
                                                          for v in r.train_terms["orth"]])
    # W before the first step is uniform; the snapshot holds every layer
    assert len(c.snapshots[0].w) == num_layers
    assert torch.allclose(torch.from_numpy(c.snapshots[0].w[3]), torch.full((10, 10), 0.1))
    assert c.snapshots[-1].probe_g[0].shape == (16, 10) and c.snapshots[-1].probe_p[5].shape == (16, 20)
    # batch records: one per batch, enough for a live loss curve
    assert len(c.batches) == 2 * math.ceil(1257 / 128)
    assert all(len(b.ce) == num_layers for b in c.batches)
    # the test split is read once, at the end; its best layer is the one best on validation
    assert c.test is not None and c.test.best_layer == c.epochs[-1].best_layer
    assert len(c.test.layer_acc) == num_layers


def test_same_seed_same_records_on_cpu(digits8) -> None:
    runs = []
    for _ in range(2):
        c = Collect()
        Trainer(tiny(), data=digits8, callbacks=[c]).fit()
        runs.append(c)
    assert [strip(r) for r in runs[0].epochs] == [strip(r) for r in runs[1].epochs]
    assert [b.loss for b in runs[0].batches] == [b.loss for b in runs[1].batches]
    c3 = Collect()
    Trainer(tiny(seed=7), data=digits8, callbacks=[c3]).fit()
    assert [b.loss for b in c3.batches] != [b.loss for b in runs[0].batches]


def test_resumed_run_equals_uninterrupted(tmp_path, digits8) -> None:
    cfg = tiny(epochs=3)
    straight = Trainer(cfg, data=digits8, callbacks=[RunWriter(tmp_path / "a")])
    assert straight.fit() == "finished"

    class StopAfter(Callback):
        def on_epoch(self, trainer, record, snapshot):
            if record.epoch == 1:
                trainer.control.stop()

    first = Trainer(cfg, data=digits8, callbacks=[RunWriter(tmp_path / "b"), StopAfter()])
    assert first.fit() == "stopped"
    assert RunReader(tmp_path / "b").meta["status"] == "stopped"
    second = resume(tmp_path / "b", data=digits8)
    assert second.epoch == 1
    assert second.fit() == "finished"

    a, b = RunReader(tmp_path / "a"), RunReader(tmp_path / "b")
    assert [strip(r) for r in a.epochs] == [strip(r) for r in b.epochs]
    assert [x.loss for x in a.batches] == [x.loss for x in b.batches]
    assert a.test == b.test
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, second.model.state_dict()[k]), k


def test_continue_a_finished_run_for_more_epochs(tmp_path, digits8) -> None:
    Trainer(tiny(epochs=2), data=digits8, callbacks=[RunWriter(tmp_path / "r")]).fit()
    more = resume(tmp_path / "r", epochs=3, data=digits8)
    assert more.fit() == "finished"
    reader = RunReader(tmp_path / "r")
    assert [r.epoch for r in reader.epochs] == [0, 1, 2, 3]
    assert reader.meta["status"] == "finished" and reader.test.epoch == 3


def test_pause_step_and_live_changes_from_another_thread(digits8) -> None:
    control = RunControl()
    c = Collect()
    paused = threading.Event()

    class PauseAtThird(Callback):
        def on_batch(self, trainer, record):
            if record.step == 3:
                control.pause()
                control.set(lambda_entropy=0.0, lr=0.01)

        def on_event(self, trainer, record):
            if record.action == "pause":
                paused.set()

    t = Trainer(tiny(epochs=3), data=digits8, control=control, callbacks=[c, PauseAtThird()])
    thread = threading.Thread(target=t.fit)
    thread.start()
    assert paused.wait(60), "the run never paused"
    step_at_pause = t.step
    assert control.paused and thread.is_alive()
    threading.Event().wait(0.3)
    assert t.step == step_at_pause  # nothing trains while paused
    control.resume()
    thread.join(120)
    assert c.status == "finished"
    actions = [e.action for e in c.events]
    assert actions[0] == "start" and "pause" in actions and "resume" in actions and actions[-1] == "finish"
    change = next(e for e in c.events if e.action == "set")
    assert change.changes == {"lambda_entropy": [0.01, 0.0], "lr": [0.08, 0.01]}
    assert change.step == 3  # takes effect at the next batch
    assert c.batches[3].lr == pytest.approx(cosine_lr(t.cfg, 0))  # the new peak lr, epoch 0 of the schedule
    assert all(r.lambdas["entropy"] == 0.0 for r in c.epochs[1:])
    assert all(v == 0.0 for v in c.epochs[-1].train_terms_w["entropy"])


def test_one_epoch_then_pause(digits8) -> None:
    control = RunControl()
    control.pause()
    c = Collect()
    t = Trainer(tiny(epochs=3), data=digits8, control=control, callbacks=[c])
    thread = threading.Thread(target=t.fit)
    thread.start()
    control.step_epoch()
    for _ in range(600):
        if t.epoch == 1 and control.paused:
            break
        threading.Event().wait(0.1)
    threading.Event().wait(0.3)
    assert t.epoch == 1 and control.paused and t.step == math.ceil(1257 / 128)
    control.stop()
    thread.join(60)
    assert c.status == "stopped"


@pytest.mark.parametrize("mode", ["static", "backprop"])
def test_other_modes_train(mode, digits8) -> None:
    c = Collect()
    t = Trainer(tiny(mode=mode, epochs=1), data=digits8, callbacks=[c])
    assert t.fit() == "finished"
    assert c.batches[-1].loss < c.batches[0].loss
    if mode == "static":
        assert not any(hasattr(layer, "A") for layer in t.model.layers)
        assert all(math.isnan(x) for x in c.epochs[-1].temperature)


def test_lean_step_gives_the_same_weights_as_fused(digits8) -> None:
    a = Trainer(tiny(epochs=1, ff_step="fused"), data=digits8)
    b = Trainer(tiny(epochs=1, ff_step="lean"), data=digits8)
    a.fit()
    b.fit()
    for k, v in a.model.state_dict().items():
        torch.testing.assert_close(v, b.model.state_dict()[k], rtol=1e-4, atol=1e-5)


def test_non_finite_loss_fails_the_run_and_keeps_the_last_good_checkpoint(tmp_path, digits8) -> None:
    class Poison(Callback):
        def on_epoch(self, trainer, record, snapshot):
            if record.epoch == 1:
                with torch.no_grad():
                    trainer.model.layers[0].conv.weight.fill_(float("nan"))

    c = Collect()
    t = Trainer(tiny(epochs=3), data=digits8, callbacks=[RunWriter(tmp_path / "r"), Poison(), c])
    assert t.fit() == "failed"
    assert "nan" in t.error.lower() and "learning rate" in t.error
    reader = RunReader(tmp_path / "r")
    assert reader.meta["status"] == "failed" and reader.meta["error"] == t.error
    ck = reader.checkpoint("last")
    assert ck["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    assert c.events[-1].action == "fail"


def test_an_exception_in_a_run_is_reported_not_raised(digits8) -> None:
    class Boom(Callback):
        def on_batch(self, trainer, record):
            raise RuntimeError("disk full")

    t = Trainer(tiny(), data=digits8, callbacks=[Boom()])
    assert t.fit() == "failed"
    assert t.error == "RuntimeError: disk full"


def test_out_of_memory_fails_the_run_with_a_suggestion_and_keeps_the_last_checkpoint(tmp_path, digits8) -> None:
    """A GPU out-of-memory error (raised here from the second epoch's first step, as CUDA would raise it) ends the
    run with a message that names the batch size and says what to try; the epoch before it stays on disk."""
    class RunsOutOfMemory(Callback):
        def on_epoch(self, trainer, record, snapshot):
            if record.epoch == 1:
                def step(*args):
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
                trainer._step = step

    t = Trainer(tiny(epochs=3), data=digits8, callbacks=[RunWriter(tmp_path / "r"), RunsOutOfMemory()])
    assert t.fit() == "failed"
    assert "out of memory" in t.error and f"batch size {t.cfg.batch_size}" in t.error
    assert "smaller batch size" in t.error and "smaller preset" in t.error
    reader = RunReader(tmp_path / "r")
    assert reader.meta["status"] == "failed" and reader.meta["error"] == t.error
    assert [e.epoch for e in reader.epochs] == [0, 1] and reader.checkpoint("last")["epoch"] == 1
