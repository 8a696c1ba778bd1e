"""One CAW-Conv layer against METHOD.md, computed by hand: goodness pooling, the assignment W = softmax(A / T_e),
the temperature schedule, the zero conv gradient at initialisation and the static block assignment."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ffviz.method.losses import entropy_penalty, orthogonality_penalty
from ffviz.method.model import CAWConv, GoodnessSpec, pooled_goodness, static_assignment

COEFFS = [(0.94, 0.06, 0.05), (0.97, 0.03, 0.03)]  # CIFAR/F-MNIST/Tiny-ImageNet, MNIST


def hand_softmax_rows(a: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a, dtype=np.float64)
    for c in range(a.shape[0]):
        row = [math.exp(v) for v in a[c]]
        total = sum(row)
        out[c] = [v / total for v in row]
    return out


def hand_temperature(log_t: float, epoch: int, lo: float = 0.1, hi: float = 100.0, decay: float = 0.995) -> float:
    return min(max(math.exp(log_t), lo), hi) * decay ** epoch


def hand_assignment(a: np.ndarray, log_t: float, epoch: int) -> np.ndarray:
    return hand_softmax_rows(a.astype(np.float64) / hand_temperature(log_t, epoch))


# ---------------------------------------------------------------------------------------------- goodness pooling
@pytest.mark.parametrize("a,b,d", COEFFS)
def test_pooled_goodness_by_hand(a: float, b: float, d: float) -> None:
    # (B=2, C=3, H=2, W=3), values chosen so mean, max and min all differ per channel
    vals = [
        [[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]],
         [[7.0, 0.5, 0.5], [0.5, 0.5, 0.5]],
         [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]],
        [[[-1.0, 0.0, 1.0], [0.0, 0.0, 6.0]],
         [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
         [[9.0, 1.0, 3.0], [1.5, 2.5, 0.25]]],
    ]
    y = torch.tensor(vals)
    spec = GoodnessSpec(mean=a, max=b, min=d)
    got = pooled_goodness(y, spec)
    assert got.shape == (2, 3)
    for n in range(2):
        for c in range(3):
            flat = [v for row in vals[n][c] for v in row]
            expected = a * sum(flat) / len(flat) + b * max(flat) - d * min(flat)
            assert got[n, c].item() == pytest.approx(expected, rel=1e-6, abs=1e-6)
    # spot-check one by eye: channel 0 of sample 0 has mean 2.5, max 5, min 0
    assert got[0, 0].item() == pytest.approx(a * 2.5 + b * 5.0 - d * 0.0, rel=1e-6)
    # a constant map of value v gives (a + b - d) * v: goodness is not squared
    assert got[0, 2].item() == pytest.approx((a + b - d) * 2.0, rel=1e-6)


@pytest.mark.parametrize("a,b,d", COEFFS)
def test_layer_forward_by_hand(a: float, b: float, d: float, gen: torch.Generator) -> None:
    """y = ReLU(Conv3x3(x)) (no bias, padding 1), p pooled from y, g = p @ W, h = InstanceNorm(y) (eval: no dropout)."""
    layer = CAWConv(3, 20, 10, spec=GoodnessSpec(mean=a, max=b, min=d)).eval()
    assert layer.conv.bias is None
    assert layer.conv.kernel_size == (3, 3) and layer.conv.padding == (1, 1) and layer.conv.stride == (1, 1)
    with torch.no_grad():
        layer.A.copy_(torch.randn(20, 10, generator=gen))
    x = torch.randn(2, 3, 5, 6, generator=gen)
    h, g, p, w = layer(x)

    xn = x.double().numpy()
    wt = layer.conv.weight.detach().double().numpy()  # (C, Cin, 3, 3)
    xp = np.pad(xn, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((2, 20, 5, 6))
    for i in range(5):
        for j in range(6):
            patch = xp[:, :, i:i + 3, j:j + 3]  # (B, Cin, 3, 3)
            y[:, :, i, j] = np.einsum("bkij,ckij->bc", patch, wt)
    y = np.maximum(y, 0.0)
    p_hand = a * y.mean(axis=(2, 3)) + b * y.max(axis=(2, 3)) - d * y.min(axis=(2, 3))
    w_hand = hand_assignment(layer.A.detach().numpy(), math.log(10.0), 0)
    g_hand = p_hand @ w_hand
    mu = y.mean(axis=(2, 3), keepdims=True)
    var = y.var(axis=(2, 3), keepdims=True)
    h_hand = (y - mu) / np.sqrt(var + 1e-5)

    np.testing.assert_allclose(p.detach().double().numpy(), p_hand, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w.detach().double().numpy(), w_hand, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g.detach().double().numpy(), g_hand, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h.detach().double().numpy(), h_hand, rtol=1e-3, atol=1e-4)


def test_stride_two_halves_spatial_size(gen: torch.Generator) -> None:
    layer = CAWConv(4, 10, 10, stride=2).eval()
    h, g, p, w = layer(torch.randn(2, 4, 8, 8, generator=gen))
    assert h.shape == (2, 10, 4, 4) and g.shape == (2, 10) and p.shape == (2, 10) and w.shape == (10, 10)


# ----------------------------------------------------------------------------------- assignment W and temperature
def test_initial_state() -> None:
    layer = CAWConv(3, 20, 10)
    assert layer.A.shape == (20, 10)
    assert torch.all(layer.A == 0.5)
    assert layer.log_T.shape == ()
    assert layer.log_T.item() == pytest.approx(math.log(10.0), rel=1e-7)
    assert layer.temperature().item() == pytest.approx(10.0, rel=1e-6)
    w = layer.assignment()
    assert torch.allclose(w, torch.full((20, 10), 0.1), atol=0, rtol=1e-6)
    # A and log_T are trainable parameters
    names = {n for n, _ in layer.named_parameters()}
    assert names == {"conv.weight", "A", "log_T"}


@pytest.mark.parametrize("epoch", [0, 3, 7])
def test_assignment_by_hand(epoch: int, gen: torch.Generator) -> None:
    layer = CAWConv(3, 20, 10)
    a = torch.randn(20, 10, generator=gen) * 3
    log_t = math.log(3.7)
    with torch.no_grad():
        layer.A.copy_(a)
        layer.log_T.fill_(log_t)
    layer.set_epoch(epoch)
    expected_t = 3.7 * 0.995 ** epoch
    assert layer.temperature().item() == pytest.approx(expected_t, rel=1e-6)
    w = layer.assignment()
    np.testing.assert_allclose(w.detach().double().numpy(), hand_assignment(a.numpy(), log_t, epoch),
                               rtol=1e-5, atol=1e-7)
    # each channel spreads exactly one unit of mass over the classes, all of it positive (soft, never hard)
    assert torch.allclose(w.sum(dim=1), torch.ones(20), atol=1e-6)
    assert torch.all(w > 0)


def test_set_epoch_changes_w_and_back(gen: torch.Generator) -> None:
    layer = CAWConv(3, 20, 10)
    with torch.no_grad():
        layer.A.copy_(torch.randn(20, 10, generator=gen))
    w0 = layer.assignment().detach().clone()
    layer.set_epoch(40)
    w40 = layer.assignment().detach()
    assert not torch.allclose(w0, w40)
    # a colder temperature sharpens every row: the largest entry grows
    assert torch.all(w40.max(dim=1).values >= w0.max(dim=1).values - 1e-7)
    layer.set_epoch(0)
    assert torch.equal(layer.assignment().detach(), w0)


@pytest.mark.parametrize("log_t,clamped", [(50.0, 100.0), (8.0, 100.0), (-50.0, 0.1), (-5.0, 0.1), (0.0, 1.0)])
@pytest.mark.parametrize("epoch", [0, 10])
def test_temperature_clamp(log_t: float, clamped: float, epoch: int, gen: torch.Generator) -> None:
    layer = CAWConv(3, 10, 10)
    a = torch.randn(10, 10, generator=gen)
    with torch.no_grad():
        layer.A.copy_(a)
        layer.log_T.fill_(log_t)
    layer.set_epoch(epoch)
    t = layer.temperature().item()
    assert t == pytest.approx(clamped * 0.995 ** epoch, rel=1e-6)
    assert t == pytest.approx(hand_temperature(log_t, epoch), rel=1e-6)
    w = layer.assignment().detach().double().numpy()
    np.testing.assert_allclose(w, hand_assignment(a.numpy(), log_t, epoch), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("epoch,expected", [(0, 10.0), (1, 9.95), (10, 9.511101), (100, 6.057704)])
def test_temperature_schedule(epoch: int, expected: float) -> None:
    layer = CAWConv(3, 10, 10)
    layer.set_epoch(epoch)
    assert layer.temperature().item() == pytest.approx(expected, rel=1e-5)
    assert layer.temperature().item() == pytest.approx(10.0 * 0.995 ** epoch, rel=1e-6)


# ------------------------------------------------------------------------------- symmetry at initialisation
@pytest.mark.parametrize("scaling", ["mean", "authors"])
@pytest.mark.parametrize("train", [False, True])
def test_zero_conv_gradient_at_init(scaling: str, train: bool, gen: torch.Generator) -> None:
    """Uniform W: every g_k is equal, so CE's gradient w.r.t. p vanishes and the conv gets exactly nothing;
    the regularizers depend on W alone. A gets a non-zero gradient (it moves first)."""
    torch.manual_seed(0)  # dropout masks when train=True
    layer = CAWConv(3, 20, 10).train(train)
    x = torch.randn(8, 3, 6, 6, generator=gen)
    y = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    _, g, _, w = layer(x)
    # all classes share the same goodness
    assert torch.allclose(g, g[:, :1].expand_as(g), atol=1e-6)
    loss = (F.cross_entropy(g, y, label_smoothing=0.1) + 1e-2 * entropy_penalty(w)
            + 1e-3 * 1.0 * orthogonality_penalty(w, scaling))
    loss.backward()
    assert layer.conv.weight.grad is not None
    assert torch.allclose(layer.conv.weight.grad, torch.zeros_like(layer.conv.weight), atol=1e-7)
    assert layer.A.grad is not None and layer.A.grad.abs().max().item() > 1e-6


def test_symmetry_broken_after_a_moves(gen: torch.Generator) -> None:
    """After one step on A alone, W is no longer uniform and the conv starts to receive gradient."""
    layer = CAWConv(3, 20, 10).eval()
    x = torch.randn(8, 3, 6, 6, generator=gen)
    y = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    _, g, _, _ = layer(x)
    F.cross_entropy(g, y, label_smoothing=0.1).backward()
    with torch.no_grad():
        layer.A -= 10.0 * layer.A.grad
    layer.zero_grad()
    _, g, _, _ = layer(x)
    F.cross_entropy(g, y, label_smoothing=0.1).backward()
    assert layer.conv.weight.grad.abs().max().item() > 1e-6


# ---------------------------------------------------------------------------------------------- static baseline
def test_static_assignment_values() -> None:
    w = static_assignment(20, 10)
    expected = torch.zeros(20, 10)
    for c in range(20):
        expected[c, c // 2] = 10 / 20  # channels 0,1 -> class 0, 2,3 -> class 1, ... each worth K/C = 0.5
    assert torch.equal(w, expected)
    assert w[0, 0] == 0.5 and w[1, 0] == 0.5 and w[2, 1] == 0.5 and w[19, 9] == 0.5
    # columns: each class's block sums to one (a mean); rows sum to K/C
    assert torch.allclose(w.sum(0), torch.ones(10))
    assert torch.allclose(w.sum(1), torch.full((20,), 0.5))


def test_static_layer_goodness_is_block_mean(gen: torch.Generator) -> None:
    layer = CAWConv(3, 20, 10, learnable=False).eval()
    assert not hasattr(layer, "A") or not isinstance(getattr(layer, "A", None), torch.nn.Parameter)
    names = {n for n, _ in layer.named_parameters()}
    assert names == {"conv.weight"}  # no A, no log_T
    _, g, p, w = layer(torch.randn(4, 3, 6, 6, generator=gen))
    assert torch.equal(w, static_assignment(20, 10))
    for k in range(10):
        block = p[:, 2 * k:2 * k + 2]
        assert torch.allclose(g[:, k], block.mean(dim=1), atol=1e-6)
    # the static W does not move with the epoch
    layer.set_epoch(50)
    assert torch.equal(layer.assignment(), static_assignment(20, 10))


def test_static_uneven_width_raises() -> None:
    with pytest.raises(ValueError, match="25"):
        static_assignment(25, 10)
    with pytest.raises(ValueError, match="divisible"):
        CAWConv(3, 25, 10, learnable=False)
    with pytest.raises(ValueError, match="divisible"):
        CAWConv(3, 25, 10)


# ------------------------------------------------------------------------------------------------ detach
def test_detach_input(gen: torch.Generator) -> None:
    layer = CAWConv(3, 10, 10).eval()
    with torch.no_grad():
        layer.A.copy_(torch.randn(10, 10, generator=gen))
    x = torch.randn(2, 3, 6, 6, generator=gen, requires_grad=True)
    _, g, _, _ = layer(x)  # detach_input defaults to True: Forward-Forward
    g.sum().backward()
    assert x.grad is None
    assert layer.conv.weight.grad is not None
    x2 = x.detach().clone().requires_grad_(True)
    h, g, _, _ = layer(x2, detach_input=False)
    (g.sum() + h.sum()).backward()
    assert x2.grad is not None and x2.grad.abs().max().item() > 0
