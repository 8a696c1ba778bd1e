"""Comparing runs: overlays, the config diff and the gap view, on the shipped runs and on hand-made records (a run
at epoch 0, a run that never reaches the threshold, runs of different depths)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import plotly.graph_objects as go
import pytest

from ffviz import records
from ffviz.comparison import ComparedRun, config_diff_rows, epochs_to_reach, gap_rows, seconds_per_epoch, unique_labels
from ffviz.config import RunConfig
from ffviz.figures.compare import (
    accuracy_overlay_figure,
    epochs_to_reach_figure,
    final_layer_accuracy_figure,
    gap_ensemble_figure,
    gap_layer_accuracy_figure,
    loss_overlay_figure,
    seconds_per_epoch_figure,
)
from ffviz.records import EpochRecord
from ffviz.store.runs import RunReader

SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "runs"


def valid(fig: go.Figure) -> go.Figure:
    go.Figure(fig.to_dict())  # the builders skip validation; here it runs once, fully
    return fig


def record(epoch: int, acc: float, layers: int = 3, seconds: float | None = 2.0) -> EpochRecord:
    n = layers
    trained = epoch > 0
    return EpochRecord(
        epoch=epoch, step=10 * epoch, time=2.0 * epoch, lr=0.01, device="cpu", temperature=[1.0] * n,
        lambdas={"entropy": 0.01, "orth": 0.001}, schedules={"entropy": 1.0, "orth": 0.0},
        train_loss=1.0 / (epoch + 1) if trained else None,
        train_ce=[1.0] * n if trained else None, train_terms=None, train_terms_w=None, train_acc=None,
        val_ce=[1.0] * n, val_acc=[acc - 10 * (n - 1 - i) for i in range(n)],
        alpha=[1 / n] * n, acc_alpha=acc, acc_sum=acc, acc_last=acc, acc_best_layer=acc, best_layer=n - 1,
        good_true=[0.0] * n, good_wrong=[0.0] * n, w_sharpness=[0.1] * n, channels_per_class=[[1] * 10] * n,
        images_per_sec=100.0 if trained else None, epoch_seconds=seconds if trained else None)


def made(label: str, accs: list[float], mode: str = "learnable", layers: int = 3, test: bool = True) -> ComparedRun:
    epochs = [record(i, a, layers) for i, a in enumerate(accs)]
    t = records.TestRecord(epoch=len(accs) - 1, acc_alpha=accs[-1], acc_sum=accs[-1], acc_last=accs[-1],
                   acc_best_layer=accs[-1], best_layer=layers - 1, layer_acc=epochs[-1].val_acc) if test else None
    return ComparedRun(label=label, epochs=epochs, config=RunConfig(mode=mode), test=t)


@pytest.fixture(scope="module")
def shipped() -> dict[str, ComparedRun]:
    dirs = sorted(d for d in SHIPPED.iterdir() if (d / "config.json").exists()) if SHIPPED.is_dir() else []
    if len(dirs) < 2:
        pytest.skip("the shipped runs are not in assets/runs (bash assets/runs/make_shipped_runs.sh)")
    return {d.name: ComparedRun.of(RunReader(d)) for d in dirs}


def test_overlays_of_two_shipped_runs(shipped) -> None:
    runs = [r for r in shipped.values() if r.mode != "original-ff"][:2]  # the conv network's 9 layers
    acc = valid(accuracy_overlay_figure(runs))
    lines = [t for t in acc.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == [r.label for r in runs]
    assert sum(t.marker.symbol == "star" for t in acc.data) == 2  # both finished: their test accuracy
    loss = valid(loss_overlay_figure(runs))
    assert len(loss.data) == 2 and 0 not in loss.data[0].x  # epoch 0 has no training loss
    layers = valid(final_layer_accuracy_figure(runs))
    assert len(layers.data) == 2 and len(layers.data[0].y) == 9


def test_config_diff_shows_only_what_differs(shipped) -> None:
    by_name = {r.label: r for r in shipped.values()}
    default, static = by_name["learnable (default lambdas)"], by_name["static partition"]
    rows = config_diff_rows([default, static])
    assert [r["setting"] for r in rows] == ["mode"]
    assert rows[0][default.label] == "learnable" and rows[0][static.label] == "static"
    strong = by_name["learnable, strong orthogonality"]
    rows = config_diff_rows([default, strong])
    assert {r["setting"]: (r[default.label], r[strong.label]) for r in rows} == {
        "lambda_orth": ("0.001", "0.1"), "orth_warmup_epochs": ("50", "0")}
    a = made("a", [10, 50], layers=3)
    b = dataclasses.replace(made("a", [10, 60]), config=RunConfig(lambda_entropy=0.0, widths=(10, 20), bf16=False))
    rows = config_diff_rows([a, b])
    assert {r["setting"] for r in rows} == {"lambda_entropy", "widths", "bf16"}
    widths = next(r for r in rows if r["setting"] == "widths")
    assert widths == {"setting": "widths", "a": "(preset's)", "a (2)": "10,20"}
    assert config_diff_rows([a, a]) == []


def test_gap_view_on_the_shipped_runs(shipped) -> None:
    by_mode = {}
    for r in shipped.values():
        if not r.label.startswith(("digits ", "pairs")):  # the lineage's runs, not the Gap page's cells
            by_mode.setdefault(r.mode, r)
    runs = [by_mode[m] for m in ("learnable", "static", "backprop")]
    fig = valid(gap_layer_accuracy_figure(runs))
    assert [t.name for t in fig.data] == ["learnable (CAW-Conv)", "static partition", "backprop"]
    assert "test split" in fig.layout.title.text
    backprop = fig.data[2].y
    assert max(backprop[:-1]) < 30 < backprop[-1]  # backprop trains only its last layer to classify
    ens = valid(gap_ensemble_figure(runs))
    assert len(ens.data) == 3 and list(ens.data[0].x) == ["α-weighted vote", "plain sum", "last layer", "best layer"]
    reach = valid(epochs_to_reach_figure(runs, 90))
    assert all(t.isdigit() for t in reach.data[0].text)
    speed = valid(seconds_per_epoch_figure(runs))
    assert all(s > 0 for s in speed.data[0].y)
    rows = gap_rows(runs, 90)
    assert [r["how it learns"] for r in rows] == ["learnable (CAW-Conv)", "static partition", "backprop"]
    assert all(r["test acc % (vote)"] > 90 for r in rows)


def test_epochs_to_reach_and_seconds_per_epoch() -> None:
    run = made("a", [10, 40, 91, 95])
    assert epochs_to_reach(run.epochs, 90) == 2 and epochs_to_reach(run.epochs, 99) is None
    assert epochs_to_reach(run.epochs, 5) == 1  # epoch 0 (untrained) never counts
    assert seconds_per_epoch(run.epochs) == 2.0
    untimed = [dataclasses.replace(e, epoch_seconds=None) for e in run.epochs]
    assert seconds_per_epoch(untimed) == 2.0  # from the training clock
    assert seconds_per_epoch(run.epochs[:1]) is None


def test_a_run_that_never_gets_there_is_hatched_and_says_so() -> None:
    fig = valid(epochs_to_reach_figure([made("fast", [10, 95]), made("slow", [10, 20, 30], mode="static")], 90))
    assert list(fig.data[0].text) == ["1", "not reached in 2"]
    assert list(fig.data[0].marker.pattern.shape) == ["", "/"]


def test_untrained_unfinished_and_empty_runs_draw_a_note() -> None:
    fresh = made("fresh", [10], test=False)  # only epoch 0
    for fig in (accuracy_overlay_figure([]), loss_overlay_figure([fresh]), seconds_per_epoch_figure([fresh]),
                gap_layer_accuracy_figure([]), gap_ensemble_figure([]), epochs_to_reach_figure([], 90),
                final_layer_accuracy_figure([])):
        valid(fig)
    assert valid(loss_overlay_figure([fresh])).layout.annotations[0].text == "No trained epoch yet"
    unfinished = valid(gap_layer_accuracy_figure([made("u", [10, 50], test=False)]))
    assert "validation split" in unfinished.layout.title.text


def test_runs_of_different_depths_share_the_axes() -> None:
    fig = valid(final_layer_accuracy_figure([made("short", [10, 80], layers=3), made("deep", [10, 90], layers=5)]))
    assert [len(t.y) for t in fig.data] == [3, 5] and tuple(fig.layout.xaxis.range) == (-0.3, 4.3)


def test_unique_labels() -> None:
    assert unique_labels(["a", "b", "a", "a"]) == ["a", "b", "a (2)", "a (3)"]
