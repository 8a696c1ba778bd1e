"""The figure builders on records from a real tiny run: each returns a valid Plotly figure with the traces its view
needs, handles epoch 0 (no training statistics yet) and marks live changes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import plotly.graph_objects as go
import pytest

from ffviz import figures as F
from ffviz.config import RunConfig
from ffviz.figures.assignments import channel_order, color_cap
from ffviz.figures.goodness import ensemble_scores, true_and_wrong
from ffviz.figures.regularizers import gram_matrix
from ffviz.figures.style import event_epoch_x, format_changes, layer_colors
from ffviz.method.trainer import Callback, Trainer
from ffviz.runner.run_writer import RunWriter
from ffviz.store.runs import RunReader

LAYERS, CLASSES, PROBE = 9, 10, 20
NAMES = [str(k) for k in range(CLASSES)]


class ChangeLambda(Callback):
    """Moves λ_entropy once, mid-run, as the Train page's slider does."""

    def on_batch(self, trainer, record):
        if record.step == 25:
            trainer.control.set(lambda_entropy=0.03)


@pytest.fixture(scope="session")
def run(tmp_path_factory) -> RunReader:
    """A real run: classroom-mini on digits, 2 epochs, a λ change at step 25; trained once per test session."""
    run_dir = tmp_path_factory.mktemp("figures") / "run"
    cfg = RunConfig(preset="classroom-mini", epochs=2, batch_size=64, probe_size=PROBE, device="cpu")
    assert Trainer(cfg, callbacks=[RunWriter(run_dir), ChangeLambda()]).fit() == "finished"
    return RunReader(run_dir)


def valid(fig: go.Figure) -> go.Figure:
    """The builders skip Plotly's validation for speed; here every figure is validated once, fully (the figure
    itself, with its plain arrays, is what the assertions then read)."""
    assert isinstance(fig, go.Figure)
    go.Figure(fig.to_dict())  # raises on any invalid property or value
    return fig


def names(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data]


def test_the_run_has_what_the_figures_read(run):
    assert [e.epoch for e in run.epochs] == [0, 1, 2]
    assert run.epochs[0].train_ce is None  # the untrained epoch
    assert [e.action for e in run.events if e.action == "set"] == ["set"]
    assert run.test is not None


def test_batch_loss_figure_has_a_line_per_layer_and_marks_the_change(run):
    fig = valid(F.batch_loss_figure(run.batches, run.events))
    # each line named by its layer's number under the legend's "layer" title; hover says "layer i" in full
    assert names(fig) == [str(i) for i in range(LAYERS)] and fig.layout.legend.title.text == "layer"
    assert all(f"layer {i}<br>" in t.hovertemplate for i, t in enumerate(fig.data))
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0  # under the plot, across its width
    assert len(fig.data[0].x) == len(run.batches)
    change = run.events[[e.action for e in run.events].index("set")]
    assert [s.x0 for s in fig.layout.shapes] == [change.step]
    assert "λe=0.03" in fig.layout.annotations[0].text
    assert "λ_entropy 0.01 → 0.03" in fig.layout.annotations[0].hovertext


def test_batch_loss_figure_overlays_a_previous_run_dashed(run):
    fig = valid(F.batch_loss_figure(run.batches, previous=run.batches))
    prev = [t for t in fig.data if t.name == "before" and t.line.dash == "dash"]
    assert len(prev) == LAYERS and all(t.line.dash == "dash" for t in prev)
    assert len(fig.data) == 2 * LAYERS


def test_layer_accuracy_figure_has_every_layer_and_the_ensemble(run):
    fig = valid(F.layer_accuracy_figure(run.epochs, run.events, previous=run.epochs))
    assert names(fig)[-1] == "vote"
    assert list(fig.data[-1].y) == pytest.approx([e.acc_alpha for e in run.epochs])
    assert sum(1 for n in names(fig) if n.isdigit()) == LAYERS
    # the change happened during epoch 1 (the second epoch): it sits between x = 1 and x = 2
    assert 1.0 <= fig.layout.shapes[0].x0 <= 2.0


def test_empty_inputs_say_why_they_are_empty():
    for fig in (F.batch_loss_figure([]), F.layer_accuracy_figure([]), F.sharpness_figure([]),
                F.alpha_figure([]), F.true_vs_wrong_figure([])):
        valid(fig)
        assert fig.layout.annotations and not fig.data


def test_assignment_heatmap_orders_channels_by_strongest_class(run):
    w = run.snapshot(2).w[4]
    fig = valid(F.assignment_heatmap(w, NAMES, layer=4, epoch=2, selected=3))
    heat, clicks = fig.data
    assert heat.type == "heatmap" and clicks.type == "scatter"
    order = channel_order(w)
    np.testing.assert_allclose(np.asarray(heat.z), w[order])
    assert list(np.asarray(heat.z).argmax(1)) == sorted(np.asarray(heat.z).argmax(1))  # block structure
    # a click on a row's strongest cell reports the row's channel
    assert list(clicks.customdata) == list(order) and list(clicks.y) == list(range(w.shape[0]))
    assert list(clicks.x) == list(np.asarray(heat.z).argmax(1))
    assert any(s.type == "rect" for s in fig.layout.shapes)  # the selected channel is outlined
    assert heat.zmax == 1.0


def test_channel_order_and_color_cap_on_a_known_matrix():
    w = np.array([[0.1, 0.9], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    assert channel_order(w).tolist() == [1, 2, 0, 3]
    assert color_cap(np.full((4, 10), 0.1)) == pytest.approx(0.2)  # never below 2/K
    assert color_cap(np.array([[0.7, 0.1, 0.1, 0.1], [0.25] * 4])) == pytest.approx(0.7)


def test_sharpness_channels_and_temperature_figures(run):
    fig = valid(F.sharpness_figure(run.epochs, highlight=2, current_epoch=1, num_classes=CLASSES))
    assert len(fig.data) == LAYERS and fig.data[2].line.width > fig.data[0].line.width
    fig = valid(F.channels_per_class_figure(run.epochs, 2, NAMES, current_epoch=1))
    assert names(fig)[:CLASSES] == NAMES
    # epoch 0: W is uniform, its channels are drawn as one grey "undecided" bar, not as class 0's
    undecided = fig.data[-1]
    assert undecided.name == "undecided" and undecided.y[0] == sum(run.epochs[0].channels_per_class[2])
    assert fig.data[0].y[0] == 0
    fig = valid(F.temperature_figure(run.epochs, highlight=2))
    assert len(fig.data) == LAYERS and fig.layout.yaxis.type == "log"


def test_channel_history_follows_one_channel(run):
    history = {e.epoch: run.snapshot(e.epoch).w[4][3] for e in run.epochs}
    fig = valid(F.channel_history_figure(history, NAMES, channel=3, layer=4, current_epoch=1))
    assert names(fig) == NAMES and list(fig.data[0].x) == [0, 1, 2]
    assert fig.data[0].y[0] == pytest.approx(1 / CLASSES)  # uniform at the start


def test_regularizer_figure_raw_and_weighted_beside_the_cross_entropy(run):
    fig = valid(F.regularizer_figure(run.epochs, 3, run.events, log=True, current_epoch=1))
    assert len(fig.data) == 5 and fig.data[0].name == "cross-entropy"
    assert fig.layout.yaxis.type == "log"
    assert list(fig.data[0].x) == [1, 2]  # epoch 0 has no training statistics
    assert fig.data[1].y[0] == pytest.approx(run.epochs[1].train_terms_w["entropy"][3])
    linear = valid(F.regularizer_figure(run.epochs, 3, log=False))
    assert linear.layout.yaxis.type is None


def test_static_runs_have_no_regularizers_and_no_temperature(run):
    static = [dataclasses.replace(e, temperature=[math.nan] * LAYERS,
                                  train_terms=None if e.train_terms is None else {
                                      "entropy": [0.0] * LAYERS, "orth": [0.0] * LAYERS}) for e in run.epochs]
    for fig in (F.regularizer_figure(static, 0), F.temperature_figure(static)):
        valid(fig)
        assert not fig.data and "static" in fig.layout.annotations[0].text


def test_gram_matrix_and_figure(run):
    w = run.snapshot(2).w[5]
    g = gram_matrix(w)
    assert g.shape == (CLASSES, CLASSES) and np.allclose(np.diag(g), 1, atol=1e-6) and np.allclose(g, g.T)
    fig = valid(F.gram_figure(w, NAMES, layer=5, epoch=2))
    np.testing.assert_allclose(np.asarray(fig.data[0].z), g)
    assert gram_matrix(np.eye(CLASSES)) == pytest.approx(np.eye(CLASSES))


def test_goodness_figures(run):
    fig = valid(F.true_vs_wrong_figure(run.epochs, highlight=1, current_epoch=2))
    assert len(fig.data) == 2 * LAYERS
    snap = run.snapshot(2)
    fig = valid(F.goodness_distribution_figure(snap))
    assert names(fig) == ["true class", "strongest wrong class"]
    assert len(fig.data[0].y) == LAYERS * PROBE
    true, wrong = true_and_wrong(np.array([[1.0, 3.0, 2.0]]), np.array([2]))
    assert (true[0], wrong[0]) == (2.0, 3.0)


def test_image_goodness_shows_every_layer_and_the_vote(run):
    snap, alpha = run.snapshot(2), run.epochs[2].alpha
    fig = valid(F.image_goodness_figure(snap, 0, alpha, NAMES))
    heat, bars = fig.data
    assert np.asarray(heat.z).shape == (LAYERS, CLASSES)
    np.testing.assert_allclose(np.asarray(heat.z).sum(1), 1, atol=1e-6)  # softmax per layer
    scores = ensemble_scores(snap, 0, alpha)
    manual = sum(a * np.asarray(g[0], dtype=float) for a, g in zip(alpha, snap.probe_g, strict=True))
    np.testing.assert_allclose(scores, manual)
    assert np.asarray(bars.y).argmax() == scores.argmax()


def test_contribution_figures(run):
    fig = valid(F.alpha_figure(run.epochs, current_epoch=1))
    assert len(fig.data) == LAYERS and all(t.stackgroup == "alpha" for t in fig.data)
    fig = valid(F.layer_accuracy_alpha_figure(run.epochs[-1]))
    assert [t.type for t in fig.data] == ["bar", "scatter"] and fig.data[1].yaxis == "y2"
    fig = valid(F.ensemble_accuracy_figure(run.epochs, test=run.test))
    assert [t.name for t in fig.data if "test" not in t.name] == [
        "α-weighted ensemble", "plain sum of all layers", "last layer alone", "best single layer"]
    assert sum(1 for t in fig.data if t.name.endswith(", test")) == 4


def test_confusion_matrix_counts_every_validation_image(run):
    snap = run.snapshot(2)
    fig = valid(F.confusion_figure(snap.val_y, snap.val_pred, NAMES, epoch=2))
    counts = np.asarray(fig.data[0].customdata)
    assert counts.shape == (CLASSES, CLASSES) and counts.sum() == len(snap.val_y)
    assert np.trace(counts) == (snap.val_y == snap.val_pred).sum()


def test_pca_figure_colours_probe_images_by_class(run):
    snap = run.snapshot(2)
    fig = valid(F.pca_figure(snap, LAYERS - 1, NAMES))
    assert sum(len(t.x) for t in fig.data) == PROBE
    assert set(names(fig)) <= set(NAMES)
    flat = dataclasses.replace(snap, probe_p=[np.zeros_like(p) for p in snap.probe_p])
    assert not valid(F.pca_figure(flat, 0, NAMES)).data  # nothing to project: a message instead


def test_style_helpers(run):
    assert len(set(layer_colors(LAYERS))) == LAYERS
    assert format_changes({"lambda_entropy": [0.01, 0.03], "lr": [0.08, 0.04]}) == \
        "λ_entropy 0.01 → 0.03, learning rate 0.08 → 0.04"
    change = next(e for e in run.events if e.action == "set")
    x = event_epoch_x(change, run.epochs)
    assert change.epoch <= x <= change.epoch + 1


def test_a_new_run_shows_the_previous_one_before_its_own_first_batch(run):
    fig = valid(F.batch_loss_figure([], previous=run.batches))
    assert len(fig.data) == LAYERS and all(t.legendgroup == "previous" and t.line.dash == "dash" for t in fig.data)
    fig = valid(F.layer_accuracy_figure([], previous=run.epochs))
    assert fig.data and all(t.legendgroup == "previous" and t.line.dash == "dash" for t in fig.data)
