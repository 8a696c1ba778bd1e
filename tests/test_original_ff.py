"""Original Forward-Forward (Hinton, 2022), ``mode="original-ff"``: the goodness and the logistic loss equal a hand
computation, the K-label evaluation equals K separate passes, a tiny run learns and writes the records every page
reads, and the run's records say it has no W."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ffviz.config import RunConfig
from ffviz.data import load_dataset
from ffviz.method.model import build_network
from ffviz.method.model.original_ff import (
    THETA,
    OriginalFFNet,
    ff_layer_loss,
    goodness,
    normalise,
    parameter_count,
    wrong_labels,
)
from ffviz.method.trainer import Trainer
from ffviz.runner.run_writer import RunWriter
from ffviz.store.runs import RunReader


def test_goodness_is_the_mean_of_squares_and_the_loss_is_logistic() -> None:
    h = torch.tensor([[1.0, 2.0, 0.0, 3.0], [0.5, 0.5, 0.5, 0.5]])
    assert goodness(h).tolist() == pytest.approx([(1 + 4 + 0 + 9) / 4, 0.25])
    g_pos, g_neg, theta = torch.tensor([3.5, 1.0]), torch.tensor([0.25, 5.0]), 2.0

    def sig(v: float) -> float:
        return 1 / (1 + math.exp(-v))

    # -log p(positive) for the positives, -log(1 - p(positive)) for the negatives, p = sigmoid(G - theta)
    hand = (-math.log(sig(3.5 - theta)) - math.log(sig(1.0 - theta))
            - math.log(1 - sig(0.25 - theta)) - math.log(1 - sig(5.0 - theta))) / 2
    assert ff_layer_loss(g_pos, g_neg, theta).item() == pytest.approx(hand, rel=1e-6)
    assert ff_layer_loss(g_pos, g_neg).item() == pytest.approx(ff_layer_loss(g_pos, g_neg, THETA).item())


def test_normalisation_hides_the_goodness_and_negatives_carry_a_wrong_label() -> None:
    h = torch.tensor([[3.0, 4.0], [0.0, 10.0]])
    n = normalise(h)
    assert goodness(n).tolist() == pytest.approx([1.0, 1.0], abs=1e-3)  # unit RMS whatever the length
    y = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(0))
    wrong = wrong_labels(y, 10, torch.Generator().manual_seed(1))
    assert (wrong != y).all() and set(wrong.tolist()) == set(range(10))


def test_class_goodness_is_k_passes_with_each_label_embedded_and_the_loss_matches_by_hand() -> None:
    torch.manual_seed(0)
    net = OriginalFFNet(in_features=4 * 4, num_classes=3, hidden=(5, 6))
    x = torch.randn(2, 1, 4, 4)
    gs = net.class_goodness(x)  # per layer (B, K)
    flat = torch.nn.functional.layer_norm(x.flatten(1), (16,))
    for k in range(3):
        z = torch.cat([flat, torch.nn.functional.one_hot(torch.full((2,), k), 3).float()], 1)
        h0 = torch.relu(z @ net.layers[0].linear.weight.T + net.layers[0].linear.bias)
        n0 = h0 / (h0.pow(2).mean(1, keepdim=True).sqrt() + 1e-4)
        h1 = torch.relu(n0 @ net.layers[1].linear.weight.T + net.layers[1].linear.bias)
        assert gs[0][:, k].tolist() == pytest.approx(h0.pow(2).mean(1).tolist(), rel=1e-5)
        assert gs[1][:, k].tolist() == pytest.approx(h1.pow(2).mean(1).tolist(), rel=1e-5)
    # the training loss: per layer, positives (true label) and negatives (the generator's wrong label)
    y = torch.tensor([0, 2])
    net.set_generator(torch.Generator().manual_seed(5))
    stats = net.loss(x, y)
    wrong = wrong_labels(y, 3, torch.Generator().manual_seed(5))
    for layer in range(2):
        pos, neg = gs[layer][torch.arange(2), y], gs[layer][torch.arange(2), wrong]
        assert stats.ce[layer].item() == pytest.approx(ff_layer_loss(pos, neg).item(), rel=1e-5)
    assert stats.loss.item() == pytest.approx(stats.ce.sum().item())
    assert stats.correct.tolist() == [(g.argmax(1) == y).sum().item() for g in gs]
    # no gradient crosses layers: layer 1's loss leaves layer 0 untouched
    stats.ce[1].backward()
    g0 = net.layers[0].linear.weight.grad
    assert (g0 is None or not g0.any()) and net.layers[1].linear.weight.grad.abs().sum() > 0


def test_the_config_builds_an_mlp_and_refuses_the_lean_step() -> None:
    cfg = RunConfig(mode="original-ff", preset="classroom", image_size=8, channels=1)
    net = build_network(cfg, in_channels=1, num_classes=10, image_size=8)
    assert isinstance(net, OriginalFFNet) and net.widths == (200, 400)
    assert sum(p.numel() for p in net.parameters()) == parameter_count(in_features=64, num_classes=10,
                                                                      widths=(20, 40))
    with pytest.raises(ValueError, match="lean"):
        RunConfig(mode="original-ff", ff_step="lean")


def test_a_tiny_run_learns_and_writes_records_without_w(tmp_path) -> None:
    torch.set_num_threads(1)
    cfg = RunConfig(mode="original-ff", preset="classroom-mini", epochs=3, batch_size=64, image_size=8, channels=1,
                    probe_size=8, device="cpu")
    data = load_dataset("digits", image_size=8, channels=1)
    run_dir = tmp_path / "run"
    assert Trainer(cfg, data=data, callbacks=[RunWriter(run_dir, name="ff")]).fit() == "finished"
    reader = RunReader(run_dir)
    first, last = reader.epochs[0], reader.epochs[-1]
    # 10 classes: chance is 10%; three epochs of the 100/200-unit MLP reach about 70% (more with more epochs)
    assert first.acc_alpha < 30 and last.acc_alpha > 55 and reader.test.acc_alpha > 55
    assert last.train_loss < reader.epochs[1].train_loss
    assert last.alpha == pytest.approx([0.5, 0.5])  # fixed: the summed goodness over the counted layers
    assert all(math.isnan(t) for t in last.temperature) and last.channels_per_class == [[0] * 10] * 2
    assert last.train_terms == {"entropy": [0.0, 0.0], "orth": [0.0, 0.0]}
    snap = reader.snapshot(last.epoch)
    assert np.isnan(snap.w[0]).all() and snap.probe_g[0].shape == (8, 10)
