"""The stuck-start flags: a layer whose W stays at or melts back to uniform, a temperature at its clamp, channels
that stop firing; each said in a sentence with what to try; nothing for a run that learns or for static mode."""

from __future__ import annotations

from ffviz.config import RunConfig
from ffviz.figures.diagnosis import diagnose, layer_entropy, summary
from ffviz.records import EpochRecord


def rec(epoch: int, entropy: list[float], temps: list[float], good: float = 0.5, acc: float = 1.0) -> EpochRecord:
    n = len(entropy)
    return EpochRecord(
        epoch=epoch, step=125 * epoch, time=1.0, lr=0.08, device="cpu", temperature=temps, lambdas={}, schedules={},
        train_loss=None, train_ce=None, train_terms=None, train_terms_w=None, train_acc=None, val_ce=[4.6] * n,
        val_acc=[acc] * n, alpha=[1 / n] * n, acc_alpha=1.0, acc_sum=1.0, acc_last=1.0, acc_best_layer=1.0,
        best_layer=0, good_true=[good] * n, good_wrong=[good] * n, w_sharpness=[0.01] * n,
        channels_per_class=[[1] * 100] * n, images_per_sec=None, epoch_seconds=None, w_entropy=entropy)


def test_a_uniform_w_after_training_is_flagged_with_what_to_try() -> None:
    epochs = [rec(0, [1.0] * 3, [10.0] * 3), rec(4, [0.7, 1.0, 0.999], [5.0, 30.0, 30.0])]
    diag = diagnose(epochs, RunConfig())
    assert [f.kind for f in diag.flags] == ["uniform"] and diag.flags[0].layers == (1, 2)
    assert diag.heading == "Stuck start."
    text = summary(diag)
    assert "layers 1–2" in text and "still uniform after 4 epochs (500 steps)" in text
    assert "random A" in text and "A from partition" in text and "departures from the paper" in text
    assert diag.entropy_last == [0.7, 1.0, 0.999] and diag.temperature_last == [5.0, 30.0, 30.0]


def test_melting_back_and_a_temperature_at_either_clamp_are_flagged() -> None:
    cfg = RunConfig(temperature=0.3)
    epochs = [rec(0, [1.0] * 3, [0.3] * 3), rec(1, [0.2, 0.5, 0.6], [0.2, 1.0, 1.0]),
              rec(2, [0.1, 0.99, 0.5], [0.1 * 0.995 ** 2, 100 * 0.995 ** 2, 2.0])]
    kinds = {f.kind: f.layers for f in diagnose(epochs, cfg).flags}
    assert kinds == {"melted": (1,), "floor": (0,), "ceiling": (1,)}
    # a fixed temperature is at no clamp of its own doing
    fixed = cfg.replace(learn_temperature=False)
    assert {f.kind for f in diagnose(epochs, fixed).flags} == {"melted"}


def test_silent_channels_are_flagged() -> None:
    epochs = [rec(0, [1.0], [10.0]), rec(1, [0.3], [5.0], good=5e-7)]
    flags = diagnose(epochs, RunConfig()).flags
    assert [f.kind for f in flags] == ["silent"] and "stopped firing" in flags[0].sentence


def test_a_near_uniform_w_that_votes_above_chance_is_not_stuck_but_its_clamp_is_said() -> None:
    epochs = [rec(0, [1.0] * 2, [10.0] * 2), rec(4, [0.99, 0.995], [100 * 0.995 ** 4] * 2, acc=40.0)]
    diag = diagnose(epochs, RunConfig())
    assert [f.kind for f in diag.flags] == ["ceiling"] and diag.heading == "Watch the temperature."


def test_a_learning_run_static_mode_and_an_untrained_run_are_not_flagged() -> None:
    good = [rec(0, [1.0] * 2, [10.0] * 2), rec(3, [0.4, 0.3], [4.0, 3.0])]
    assert not diagnose(good, RunConfig()).stuck
    assert not diagnose([rec(0, [1.0], [10.0]), rec(1, [1.0], [10.0])], RunConfig(mode="static")).stuck
    assert not diagnose([rec(0, [1.0], [10.0])], RunConfig()).stuck


def test_runs_recorded_before_the_entropy_read_it_off_the_sharpness() -> None:
    old = rec(1, [0.5], [1.0])
    old.w_entropy = None
    old.w_sharpness = [0.01]
    assert abs(layer_entropy(old, 100)[0] - 1.0) < 1e-9
    old.w_sharpness = [1.0]
    assert layer_entropy(old, 100)[0] == 0.0
