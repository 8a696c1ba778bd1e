"""The regularizers, the warm-up, the layer weights alpha and the split metrics, each against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ffviz.method.evaluate import ensemble_logits, split_metrics
from ffviz.method.losses import entropy_penalty, layer_contributions, orth_warmup, orthogonality_penalty
from ffviz.method.model import static_assignment


def random_w(c: int, k: int, seed: int = 0) -> torch.Tensor:
    a = torch.randn(c, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.softmax(a, dim=1)


# ----------------------------------------------------------------------------------------------- entropy
@pytest.mark.parametrize("c,k", [(6, 4), (20, 10), (3, 3)])
def test_entropy_by_hand(c: int, k: int) -> None:
    w = random_w(c, k, seed=c * k)
    wl = w.tolist()
    per_class = []
    for kk in range(k):
        s = 0.0
        for cc in range(c):
            s += -wl[cc][kk] * math.log(wl[cc][kk] + 1e-10)
        per_class.append(s)
    expected = sum(per_class) / k
    assert entropy_penalty(w).item() == pytest.approx(expected, rel=1e-10)


def test_entropy_of_uniform_and_one_hot() -> None:
    c, k = 20, 10
    uniform = torch.full((c, k), 1.0 / k, dtype=torch.float64)
    # every entry contributes -(1/K) log(1/K); C entries per class column
    assert entropy_penalty(uniform).item() == pytest.approx(c * (1 / k) * math.log(k), rel=1e-8)
    one_hot = static_assignment(c, k).double() * (c / k)  # rows one-hot
    assert entropy_penalty(one_hot).item() == pytest.approx(0.0, abs=1e-8)


# ---------------------------------------------------------------------------------------------- orthogonality
def hand_orth(w: np.ndarray) -> float:
    c, k = w.shape
    cols = [w[:, j] / math.sqrt(sum(v * v for v in w[:, j])) for j in range(k)]
    total = 0.0
    for i in range(k):
        for j in range(k):
            gij = sum(cols[i][r] * cols[j][r] for r in range(c))
            total += (gij - (1.0 if i == j else 0.0)) ** 2
    return total / (k * k)


@pytest.mark.parametrize("c,k", [(6, 4), (20, 10)])
def test_orthogonality_by_hand(c: int, k: int) -> None:
    w = random_w(c, k, seed=7 + c)
    expected = hand_orth(w.numpy())
    assert orthogonality_penalty(w, "mean").item() == pytest.approx(expected, rel=1e-6)
    assert orthogonality_penalty(w).item() == pytest.approx(expected, rel=1e-6)  # "mean" is the default
    assert orthogonality_penalty(w, "authors").item() == pytest.approx(expected / (k * k * c), rel=1e-6)


@pytest.mark.parametrize("scaling", ["mean", "authors"])
def test_orthogonality_of_one_hot_is_zero(scaling: str) -> None:
    w = static_assignment(20, 10)  # disjoint class columns: G = I
    assert orthogonality_penalty(w, scaling).item() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("c,k", [(20, 10), (8, 4)])
def test_orthogonality_of_uniform(c: int, k: int) -> None:
    w = torch.full((c, k), 1.0 / k, dtype=torch.float64)
    # all columns identical: G is all ones, (G - I)^2 is 1 off the diagonal and 0 on it
    expected = (k * k - k) / (k * k)
    assert orthogonality_penalty(w, "mean").item() == pytest.approx(expected, rel=1e-8)
    assert orthogonality_penalty(w, "authors").item() == pytest.approx(expected / (k * k * c), rel=1e-8)
    if (c, k) == (20, 10):
        assert expected == pytest.approx(0.9)


def test_orthogonality_bad_scaling() -> None:
    with pytest.raises(ValueError, match="mean, authors"):
        orthogonality_penalty(torch.ones(4, 2), "foo")


@pytest.mark.parametrize("epoch,warmup,expected", [(0, 50, 0.0), (25, 50, 0.5), (50, 50, 1.0), (51, 50, 1.0),
                                                   (200, 50, 1.0), (1, 50, 0.02), (0, 0, 1.0), (7, 0, 1.0)])
def test_orth_warmup(epoch: int, warmup: int, expected: float) -> None:
    assert orth_warmup(epoch, warmup) == pytest.approx(expected)


# ------------------------------------------------------------------------------------------- layer weights alpha
@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_layer_contributions_by_hand(tau: float) -> None:
    losses = [2.3, 1.1, 0.7, 0.9]
    e = [math.exp(-v / tau) for v in losses]
    expected = [v / sum(e) for v in e]
    got = layer_contributions(torch.tensor(losses, dtype=torch.float64), tau)
    assert got.tolist() == pytest.approx(expected, rel=1e-10)
    assert got.sum().item() == pytest.approx(1.0)
    assert int(got.argmax()) == 2  # the lowest loss counts most


def test_layer_contributions_default_tau_is_one() -> None:
    losses = torch.tensor([1.0, 2.0], dtype=torch.float64)
    expected = 1.0 / (1.0 + math.exp(-1.0))
    assert layer_contributions(losses)[0].item() == pytest.approx(expected, rel=1e-12)


# -------------------------------------------------------------------------------------------- split metrics
G = torch.tensor([
    [[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 0.5], [2.0, 1.0, 0.0]],  # layer 0
    [[0.0, 1.0, 2.0], [-1.0, 1.0, -0.5], [0.0, 0.0, 3.0], [0.0, 4.0, 1.0]],  # layer 1 (a negative wrong class)
])
Y = torch.tensor([0, 1, 2, 1])


def hand_acc(rows: list[list[float]], y: list[int]) -> float:
    hits = 0
    for r, t in zip(rows, y, strict=True):
        hits += int(max(range(len(r)), key=lambda k: r[k]) == t)
    return 100.0 * hits / len(y)


def hand_ce(rows: list[list[float]], y: list[int], eps: float) -> float:
    total = 0.0
    for r, t in zip(rows, y, strict=True):
        lse = math.log(sum(math.exp(v) for v in r))
        logp = [v - lse for v in r]
        k = len(r)
        total += (1 - eps) * -logp[t] + eps * sum(-lp for lp in logp) / k
    return total / len(y)


@pytest.mark.parametrize("alpha,acc_alpha", [((0.9, 0.1), 50.0), ((0.2, 0.8), 75.0)])
def test_split_metrics_by_hand(alpha: tuple[float, float], acc_alpha: float) -> None:
    g, y = G.tolist(), Y.tolist()
    m = split_metrics(G, Y, torch.tensor(alpha), label_smoothing=0.1)
    assert m.layer_acc == pytest.approx([50.0, 75.0])
    assert m.layer_acc == pytest.approx([hand_acc(g[0], y), hand_acc(g[1], y)])
    ens = [[alpha[0] * g[0][n][k] + alpha[1] * g[1][n][k] for k in range(3)] for n in range(4)]
    assert m.acc_alpha == pytest.approx(hand_acc(ens, y)) and m.acc_alpha == pytest.approx(acc_alpha)
    summed = [[g[0][n][k] + g[1][n][k] for k in range(3)] for n in range(4)]
    assert m.acc_sum == pytest.approx(hand_acc(summed, y)) and m.acc_sum == pytest.approx(100.0)
    assert m.acc_last == pytest.approx(75.0)
    assert m.best_layer == 1 and m.acc_best_layer == pytest.approx(75.0)
    assert m.pred_alpha.tolist() == [max(range(3), key=lambda k: r[k]) for r in ens]
    assert m.layer_ce == pytest.approx([hand_ce(g[0], y, 0.1), hand_ce(g[1], y, 0.1)], rel=1e-5)
    # goodness of the true class, and of the strongest wrong class, averaged over images
    true = [sum(g[li][n][y[n]] for n in range(4)) / 4 for li in range(2)]
    wrong = [sum(max(v for k, v in enumerate(g[li][n]) if k != y[n]) for n in range(4)) / 4 for li in range(2)]
    assert m.good_true == pytest.approx(true) and m.good_true == pytest.approx([1.625, 2.0])
    assert m.good_wrong == pytest.approx(wrong) and m.good_wrong == pytest.approx([1.25, 0.625])


def test_split_metrics_fixed_best_layer_and_plain_ce() -> None:
    m = split_metrics(G, Y, torch.tensor([0.5, 0.5]), best_layer=0)
    assert m.best_layer == 0 and m.acc_best_layer == pytest.approx(50.0)
    assert m.layer_ce == pytest.approx([hand_ce(G[0].tolist(), Y.tolist(), 0.0),
                                        hand_ce(G[1].tolist(), Y.tolist(), 0.0)], rel=1e-5)


def test_ensemble_logits_by_hand() -> None:
    alpha = torch.tensor([0.3, 0.7])
    got = ensemble_logits(G, alpha)
    for n in range(4):
        for k in range(3):
            assert got[n, k].item() == pytest.approx(0.3 * G[0, n, k].item() + 0.7 * G[1, n, k].item(), rel=1e-6)
