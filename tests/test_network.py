"""The residual FF network against METHOD.md: gradient isolation, the ResNet-17 layout, the shortcut wiring
re-implemented by hand, the input LayerNorm and the width checks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ffviz.config import RunConfig
from ffviz.method.model import FFNet, build_network, count_parameters, validate_widths
from ffviz.presets import PRESETS

PAPER = (100, 200, 400, 800)


def randomize_assignment(net: FFNet, seed: int = 0) -> None:
    """Non-uniform A (and some log T) so that gradients reach the convs at all."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in net.layers:
            layer.A.copy_(torch.randn(layer.A.shape, generator=gen))
            layer.log_T.fill_(math.log(0.5 + torch.rand((), generator=gen).item()))


@pytest.fixture
def tiny() -> FFNet:
    torch.manual_seed(0)
    net = FFNet(in_channels=1, num_classes=10, widths=(10, 20), image_size=8)
    randomize_assignment(net)
    return net


# ------------------------------------------------------------------------------------------ gradient isolation
def test_ff_no_gradient_reaches_input(tiny: FFNet, images: torch.Tensor, labels: torch.Tensor) -> None:
    x = images.clone().requires_grad_(True)
    outs = tiny(x, detach=True)
    assert len(outs) == 9
    loss = sum(F.cross_entropy(o.g, labels, label_smoothing=0.1) for o in outs)
    loss.backward()
    assert x.grad is None
    for layer in tiny.layers:  # yet every layer learns
        assert layer.conv.weight.grad is not None and layer.conv.weight.grad.abs().max() > 0


@pytest.mark.parametrize("i", range(9))
def test_ff_loss_of_one_layer_touches_only_that_layer(i: int, tiny: FFNet, images: torch.Tensor,
                                                      labels: torch.Tensor) -> None:
    tiny.zero_grad(set_to_none=True)
    outs = tiny(images.clone().requires_grad_(True), detach=True)
    F.cross_entropy(outs[i].g, labels, label_smoothing=0.1).backward()
    for j, layer in enumerate(tiny.layers):
        for name, p in layer.named_parameters():
            if j == i:
                if name in ("conv.weight", "A"):
                    assert p.grad is not None and p.grad.abs().max() > 0, (j, name)
            else:
                assert p.grad is None or torch.all(p.grad == 0), (j, name)


def test_backprop_mode_gradient_crosses_layers(tiny: FFNet, images: torch.Tensor, labels: torch.Tensor) -> None:
    x = images.clone().requires_grad_(True)
    outs = tiny(x, detach=False)
    F.cross_entropy(outs[-1].g, labels, label_smoothing=0.1).backward()
    assert x.grad is not None and x.grad.abs().max() > 0
    first = tiny.layers[0]
    assert first.conv.weight.grad is not None and first.conv.weight.grad.abs().max() > 0
    # layer 0's own W plays no part in the last layer's logits
    assert first.A.grad is None or torch.all(first.A.grad == 0)


# ------------------------------------------------------------------------------------------- ResNet-17 layout
def expected_cin(widths: tuple[int, ...], in_channels: int) -> list[int]:
    """METHOD.md: layer 0 in -> P0; stage 0 at P0; the first layer of each later stage sees the concat 2*P[s-1]."""
    cins = [in_channels]
    for s, w in enumerate(widths):
        cins += [widths[0] if s == 0 else 2 * widths[s - 1]] + [w] * 3
    return cins


@pytest.fixture(scope="module")
def resnet17() -> FFNet:
    torch.manual_seed(0)
    return FFNet(in_channels=3, num_classes=10, widths=PAPER, image_size=32).eval()


def test_resnet17_layout(resnet17: FFNet) -> None:
    net = resnet17
    assert net.num_layers == 17 and len(net.layers) == 17
    strides = [layer.conv.stride[0] for layer in net.layers]
    assert strides == [2 if i in (5, 9, 13) else 1 for i in range(17)]
    cins = [layer.conv.in_channels for layer in net.layers]
    assert cins == [3, 100, 100, 100, 100, 200, 200, 200, 200, 400, 400, 400, 400, 800, 800, 800, 800]
    assert cins == expected_cin(PAPER, 3)
    couts = [layer.conv.out_channels for layer in net.layers]
    assert couts == [100] * 5 + [200] * 4 + [400] * 4 + [800] * 4
    assert all(layer.A.shape == (c, 10) for layer, c in zip(net.layers, couts, strict=True))


def test_resnet17_parameter_count(resnet17: FFNet) -> None:
    n = count_parameters(resnet17)
    # conv 3x3 without bias + A (C x K) + log T, per layer
    by_hand = sum(9 * cin * cout + cout * 10 + 1 for cin, cout in
                  zip(expected_cin(PAPER, 3), [100] * 5 + [200] * 4 + [400] * 4 + [800] * 4, strict=True))
    assert n == by_hand
    assert 30.5e6 <= n <= 30.9e6  # "about 30.7M parameters for CIFAR-10"


def test_resnet17_via_config_and_preset() -> None:
    assert PRESETS["resnet17"].widths == PAPER and PRESETS["resnet17"].num_layers == 17
    cfg = RunConfig(preset="resnet17")
    net = build_network(cfg, in_channels=3, num_classes=10, image_size=32)
    assert net.num_layers == 17 and net.widths == PAPER
    assert 30.5e6 <= count_parameters(net) <= 30.9e6


def test_resnet17_spatial_sizes(resnet17: FFNet) -> None:
    seen: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    hs: dict[int, tuple[int, ...]] = {}
    hooks = [layer.conv.register_forward_hook(lambda m, inp, out, i=i: seen.__setitem__(i, (inp[0].shape, out.shape)))
             for i, layer in enumerate(resnet17.layers)]
    hooks += [layer.register_forward_hook(lambda m, inp, out, i=i: hs.__setitem__(i, out[0].shape))
              for i, layer in enumerate(resnet17.layers)]  # out = (h, g, p, w)
    try:
        with torch.no_grad():
            outs = resnet17(torch.randn(1, 3, 32, 32))
    finally:
        for h in hooks:
            h.remove()
    expected_out = [32] * 5 + [16] * 4 + [8] * 4 + [4] * 4
    expected_in = [32] * 6 + [16] * 4 + [8] * 4 + [4] * 3  # stride 2 happens inside layers 5, 9, 13
    for i in range(17):
        (inp, out) = seen[i]
        assert out[2:] == (expected_out[i], expected_out[i]), i
        assert hs[i] == (1, out[1], expected_out[i], expected_out[i]), i
        assert inp[2:] == (expected_in[i], expected_in[i]), i
        assert inp[1] == expected_cin(PAPER, 3)[i], i
        assert outs[i].index == i
        assert outs[i].g.shape == (1, 10)
        assert outs[i].p.shape == (1, resnet17.layers[i].conv.out_channels)
        assert outs[i].w.shape == (resnet17.layers[i].conv.out_channels, 10)


@pytest.mark.parametrize("widths,layers", [((10,), 5), ((10, 20), 9), ((10, 20, 40), 13), (PAPER, 17)])
def test_layer_count(widths: tuple[int, ...], layers: int) -> None:
    net = FFNet(in_channels=1, num_classes=10, widths=widths, image_size=16)
    assert net.num_layers == layers == 1 + 4 * len(widths)


# ---------------------------------------------------------------------------------- wiring, re-implemented by hand
def hand_layer(net: FFNet, i: int, x: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """METHOD.md steps 1-6 with plain ops (eval: no dropout). Returns (h, g)."""
    layer = net.layers[i]
    y = torch.relu(F.conv2d(x, layer.conv.weight, stride=stride, padding=1))
    p = 0.94 * y.mean(dim=(2, 3)) + 0.06 * y.amax(dim=(2, 3)) - 0.05 * y.amin(dim=(2, 3))
    t = layer.log_T.exp().clamp(0.1, 100.0) * 0.995 ** EPOCH
    w = torch.softmax(layer.A / t, dim=1)
    g = p @ w
    mu = y.mean(dim=(2, 3), keepdim=True)
    var = y.var(dim=(2, 3), keepdim=True, unbiased=False)
    return (y - mu) / torch.sqrt(var + 1e-5), g


EPOCH = 3

# METHOD.md's stage pattern written out for three stages (13 layers), one step per entry.
PLAN_3_STAGES = [
    ("layer", 0, 1), ("save",),
    ("layer", 1, 1), ("layer", 2, 1), ("add",), ("layer", 3, 1), ("layer", 4, 1), ("concat_pool",),
    ("layer", 5, 2), ("layer", 6, 1), ("add",), ("layer", 7, 1), ("layer", 8, 1), ("concat_pool",),
    ("layer", 9, 2), ("layer", 10, 1), ("add",), ("layer", 11, 1), ("layer", 12, 1),
]


def hand_forward(net: FFNet, x: torch.Tensor) -> list[torch.Tensor]:
    n = x.shape[0]
    flat = x.reshape(n, -1)
    mu = flat.mean(dim=1).view(n, 1, 1, 1)
    var = flat.var(dim=1, unbiased=False).view(n, 1, 1, 1)
    x = (x - mu) / torch.sqrt(var + 1e-5)  # LayerNorm per sample over (C, H, W), no affine
    s = None
    gs: list[torch.Tensor] = []
    for step in PLAN_3_STAGES:
        if step[0] == "layer":
            x, g = hand_layer(net, step[1], x, step[2])
            gs.append(g)
        elif step[0] == "save":
            s = x
        elif step[0] == "add":
            x = x + s
            s = x
        elif step[0] == "concat_pool":
            x = torch.cat([x, s], dim=1)
            s = F.avg_pool2d(x, 2)
    return gs


@pytest.mark.parametrize("detach", [True, False])
def test_wiring_matches_hand_forward(detach: bool, gen: torch.Generator) -> None:
    torch.manual_seed(1)
    net = FFNet(in_channels=2, num_classes=10, widths=(10, 20, 40), image_size=8)
    randomize_assignment(net, seed=3)
    net.set_epoch(EPOCH)
    net.eval()
    x = torch.randn(3, 2, 8, 8, generator=gen) * 2 + 0.5
    with torch.no_grad():
        outs = net(x, detach=detach)
        expected = hand_forward(net, x)
    assert len(outs) == len(expected) == 13
    for i, (o, g) in enumerate(zip(outs, expected, strict=True)):
        assert o.index == i
        torch.testing.assert_close(o.g, g, rtol=1e-4, atol=1e-5, msg=f"layer {i}")


def test_concat_order_and_shortcut_content(gen: torch.Generator) -> None:
    """Layer 5 sees concat(x, S): first layer 4's output, then S = (layer 2's output + layer 0's output)."""
    torch.manual_seed(1)
    net = FFNet(in_channels=1, num_classes=10, widths=(10, 20), image_size=8).eval()
    randomize_assignment(net)
    x = torch.randn(2, 1, 8, 8, generator=gen)
    seen = {}
    net.layers[5].conv.register_forward_pre_hook(lambda m, inp: seen.__setitem__("x5", inp[0]))
    with torch.no_grad():
        net(x)
    x5 = seen["x5"]
    assert x5.shape == (2, 20, 8, 8)
    # the second half of layer 5's input is the shortcut S: layer 2's normalised output plus layer 0's
    with torch.no_grad():
        flat = x.reshape(2, -1)
        xn = (x - flat.mean(1).view(2, 1, 1, 1)) / torch.sqrt(flat.var(1, unbiased=False).view(2, 1, 1, 1) + 1e-5)
        h0, _ = hand_layer(net, 0, xn, 1)
        h1, _ = hand_layer(net, 1, h0, 1)
        h2, _ = hand_layer(net, 2, h1, 1)
        s = h2 + h0
        h3, _ = hand_layer(net, 3, s, 1)
        h4, _ = hand_layer(net, 4, h3, 1)
    torch.testing.assert_close(x5[:, :10], h4, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(x5[:, 10:], s, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------- input norm
def test_input_layernorm_per_sample(gen: torch.Generator) -> None:
    torch.manual_seed(0)
    net = FFNet(in_channels=3, num_classes=10, widths=(10, 20), image_size=8).eval()
    randomize_assignment(net)
    x = torch.randn(3, 3, 8, 8, generator=gen)
    x2 = x.clone()
    x2[1] = x2[1] * 7.5
    x2[2] = x2[2] * 0.2 + 3.0  # shifts too: the norm is over (C, H, W) of each sample
    with torch.no_grad():
        a = net(x)
        b = net(x2)
    for oa, ob in zip(a, b, strict=True):
        torch.testing.assert_close(oa.g, ob.g, rtol=1e-3, atol=1e-4)
    # what the first conv sees is exactly LayerNorm over (C, H, W) of each sample (not per channel, not per batch)
    seen = {}
    net.layers[0].conv.register_forward_pre_hook(lambda m, inp: seen.__setitem__("x0", inp[0]))
    with torch.no_grad():
        net(x)
    flat = x.reshape(3, -1)
    expected = (x - flat.mean(1).view(3, 1, 1, 1)) / torch.sqrt(flat.var(1, unbiased=False).view(3, 1, 1, 1) + 1e-5)
    torch.testing.assert_close(seen["x0"], expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------------ validation
def test_validate_widths_accepts_good() -> None:
    validate_widths((10, 20, 40, 80), 10, 32)
    validate_widths((100, 200, 400, 800), 10, 32)
    validate_widths((20, 40), 10, 16)


@pytest.mark.parametrize("widths,k,size,pattern", [
    ((10, 30), 10, 8, r"twice"),
    ((20, 40, 100), 10, 8, r"twice"),
    ((15, 30), 10, 8, r"15.*split evenly.*10"),
    ((10, 20), 3, 8, r"split evenly among 3"),
    ((10, 20, 40, 80), 10, 12, r"image_size=12.*divisible by 8"),
    ((10, 20, 40), 10, 6, r"image_size=6.*divisible by 4"),
    ((), 10, 8, r"at least one stage"),
])
def test_validate_widths_rejects(widths: tuple[int, ...], k: int, size: int, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        validate_widths(widths, k, size)
    if widths:
        with pytest.raises(ValueError, match=pattern):
            FFNet(in_channels=1, num_classes=k, widths=widths, image_size=size)


# ------------------------------------------------------------------------------------------------- modes
def test_static_network_has_no_assignment_parameters() -> None:
    cfg = RunConfig(mode="static", widths=(10, 20))
    net = build_network(cfg, in_channels=1, num_classes=10, image_size=8)
    names = {n.split(".", 2)[-1] for n, _ in net.named_parameters()}
    assert names == {"conv.weight"}
    learn = build_network(cfg.replace(mode="learnable"), in_channels=1, num_classes=10, image_size=8)
    assert count_parameters(learn) - count_parameters(net) == 9 + 10 * 10 * 5 + 20 * 10 * 4
    for mode in ("learnable", "backprop"):
        assert all(layer.learnable for layer in build_network(cfg.replace(mode=mode), in_channels=1,
                                                              num_classes=10, image_size=8).layers)


def test_network_set_epoch_reaches_every_layer() -> None:
    net = FFNet(in_channels=1, num_classes=10, widths=(10, 20), image_size=8)
    net.set_epoch(10)
    for layer in net.layers:
        assert layer.temperature().item() == pytest.approx(10.0 * 0.995 ** 10, rel=1e-6)


# ------------------------------------------------------------------------------------------------ checkpoints
def test_state_dict_round_trip_keeps_assignment(gen: torch.Generator) -> None:
    torch.manual_seed(0)
    net = FFNet(in_channels=1, num_classes=10, widths=(10, 20), image_size=8)
    randomize_assignment(net)
    net.set_epoch(100)
    net.eval()
    fresh = FFNet(in_channels=1, num_classes=10, widths=(10, 20), image_size=8).eval()
    fresh.load_state_dict(net.state_dict())
    x = torch.randn(2, 1, 8, 8, generator=gen)
    with torch.no_grad():
        for a, b in zip(net(x), fresh(x), strict=True):
            torch.testing.assert_close(a.w, b.w)
            torch.testing.assert_close(a.g, b.g)
