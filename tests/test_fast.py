"""Each speed trick in ffviz/method/fast/ (and the DDP wrapper) against the plain form it replaces: values and
gradients, on
the CPU, tiny shapes. Float32 sums in another order (another SIMD width: AVX2 or AVX-512) differ by a few ulps of
the largest terms summed, so absolute tolerances scale with each tensor's largest entry (`close`)."""

from __future__ import annotations

import copy
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ffviz.config import RunConfig
from ffviz.method.distributed import wrap_ddp
from ffviz.method.fast import layout
from ffviz.method.fast.activation import activate_and_pool, relu_dropout_goodness
from ffviz.method.fast.clip import clip_per_layer
from ffviz.method.fast.consts import DeviceConsts
from ffviz.method.fast.dropout import keep_mask
from ffviz.method.fast.norm import instance_norm
from ffviz.method.fast.pool import avg_pool2
from ffviz.method.model import FFNet, pooled_goodness
from ffviz.method.model.layer import GoodnessSpec
from ffviz.method.step import fused_loss


def close(got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-5) -> None:
    torch.testing.assert_close(got, want, rtol=rtol, atol=2e-5 * max(want.abs().max().item(), 1e-12))


def ties(z: torch.Tensor) -> torch.Tensor:
    """Put ties at the max and the min into some maps (constant maps, plateaus) as images with flat backgrounds do."""
    z = z.clone()
    z[0, 0] = 0.3
    z[1, 1, :2] = -1.0
    z[1, 1, 2:] = 2.0
    z[2, 1] = (torch.arange(z[2, 1].numel()).view(z[2, 1].shape) % 3 + 1.0).to(z.dtype)
    return z


# ------------------------------------------------------------------------- ReLU + dropout + pooling, one op
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_activate_and_pool_gradient(channels_last: bool, dropout: float) -> None:
    spec = GoodnessSpec()
    z = ties(torch.randn(4, 6, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    if channels_last:
        z = z.contiguous(memory_format=torch.channels_last)
    z.requires_grad_(True)
    keep, scale = keep_mask(z.detach(), dropout, torch.Generator().manual_seed(1)) if dropout else (None, 1.0)
    gp = torch.randn(4, 6, dtype=torch.float64)
    gy = torch.randn(4, 6, 5, 5, dtype=torch.float64)
    for with_gy in (False, True):
        y, p = activate_and_pool(z, keep, scale, spec)
        ((p * gp).sum() + ((y * gy).sum() if with_gy else 0)).backward()
        got, z.grad = z.grad, None
        y_ref = F.relu(z) * (1.0 if keep is None else keep)
        ((pooled_goodness(y_ref, spec) * gp).sum() + ((y_ref * gy).sum() if with_gy else 0)).backward()
        torch.testing.assert_close(y, y_ref)
        torch.testing.assert_close(p, pooled_goodness(y_ref, spec))
        torch.testing.assert_close(got, z.grad)
        z.grad = None


def test_relu_dropout_goodness_in_float32() -> None:
    """The layer's call: with the run's generator, the same mask as keep_mask draws; p and its gradient as plain
    autograd on ReLU(z) * keep."""
    spec = GoodnessSpec()
    z = torch.randn(3, 4, 6, 6, generator=torch.Generator().manual_seed(2), requires_grad=True)
    y, p = relu_dropout_goodness(z, 0.2, torch.Generator().manual_seed(5), spec)
    gp = torch.randn(3, 4, generator=torch.Generator().manual_seed(3))
    (p * gp).sum().backward()
    got, z.grad = z.grad, None
    keep, _ = keep_mask(z.detach(), 0.2, torch.Generator().manual_seed(5))
    y_ref = F.relu(z) * keep
    (pooled_goodness(y_ref, spec) * gp).sum().backward()
    close(y, y_ref)
    close(p, pooled_goodness(y_ref, spec))
    close(got, z.grad)


# ------------------------------------------------------------------------------------------ dropout masks
def test_keep_mask() -> None:
    z = torch.zeros(400, 500)
    a, scale = keep_mask(z, 0.1, torch.Generator().manual_seed(0))
    b, _ = keep_mask(z, 0.1, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)  # the run's generator alone decides
    assert abs((a == 0).float().mean().item() - 0.1) < 0.003
    assert scale == pytest.approx(a.max().item(), rel=1e-6)
    assert scale == pytest.approx(1 / 0.9, rel=1e-4) and len(a.unique()) == 2 and a.min().item() == 0.0
    assert a.mean().item() == pytest.approx(1.0, abs=0.01)  # expected output unchanged, as F.dropout


def test_keep_mask_without_generator_is_bernoulli() -> None:
    torch.manual_seed(0)
    a, scale = keep_mask(torch.zeros(200, 200), 0.25, None)
    assert scale == pytest.approx(1 / 0.75) and a.unique().tolist() == pytest.approx([0.0, 1 / 0.75])
    assert abs((a == 0).float().mean().item() - 0.25) < 0.01


# ------------------------------------------------------------------------------------------- norm and pool
def test_instance_norm() -> None:
    y = torch.relu(torch.randn(3, 5, 6, 6, generator=torch.Generator().manual_seed(0)))
    close(instance_norm(y), F.instance_norm(y), rtol=1e-4)
    yg = y.clone().requires_grad_(True)  # with a gradient to carry it is F.instance_norm itself
    instance_norm(yg).square().sum().backward()
    yr = y.clone().requires_grad_(True)
    F.instance_norm(yr).square().sum().backward()
    close(yg.grad, yr.grad)


def test_avg_pool2() -> None:
    x = torch.randn(3, 5, 6, 6, generator=torch.Generator().manual_seed(0), requires_grad=True)
    assert torch.equal(avg_pool2(x), F.avg_pool2d(x, 2))  # the same sum order: the same bits
    avg_pool2(x).square().sum().backward()
    got, x.grad = x.grad, None
    F.avg_pool2d(x, 2).square().sum().backward()
    close(got, x.grad)


# ------------------------------------------------------------------------------------------ layout, clip
def test_channels_last_conv_equals_the_plain_conv() -> None:
    torch.manual_seed(0)
    plain = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    fast = copy.deepcopy(plain).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 7, 7)
    out_fast, out_plain = layout.conv(fast, x), layout.conv(plain, x)
    assert out_fast.is_contiguous()  # channels-first out, for the reductions and norms that follow
    close(out_fast, out_plain)
    out_fast.square().sum().backward()
    out_plain.square().sum().backward()
    close(fast.weight.grad, plain.weight.grad)


def test_clip_per_layer_equals_clip_grad_norm() -> None:
    torch.manual_seed(0)
    net = FFNet(in_channels=1, num_classes=10, widths=(10, 20), image_size=8)
    gen = torch.Generator().manual_seed(1)
    for i, layer in enumerate(net.layers):
        for p in layer.parameters():
            p.grad = torch.randn(p.shape, generator=gen) * (0.01 if i % 3 == 0 else 1.0)  # some layers under the clip
    ref = copy.deepcopy(net)
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        q.grad = p.grad.clone()
    for layer in ref.layers:
        torch.nn.utils.clip_grad_norm_(layer.parameters(), 0.5)
    clip_per_layer([list(layer.parameters()) for layer in net.layers], 0.5, DeviceConsts(torch.device("cpu")))
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        close(p.grad, q.grad, rtol=1e-6)
    gen = torch.Generator().manual_seed(1)
    clipped = [(p.grad - torch.randn(p.shape, generator=gen) * (0.01 if i % 3 == 0 else 1.0)).abs().max().item()
               for i, layer in enumerate(net.layers) for p in layer.parameters()]
    assert max(clipped) > 0.1 and min(clipped) == 0.0  # some layers were clipped, some were under the limit


def test_device_consts_are_made_once() -> None:
    consts = DeviceConsts(torch.device("cpu"), max_size=2)
    a = consts((0.1, 0.2), torch.float32)
    assert consts((0.1, 0.2), torch.float32) is a and torch.equal(a, torch.tensor([0.1, 0.2]))
    assert consts((0.1, 0.2), torch.float64) is not a


# ---------------------------------------------------------------------------------------- DDP and CUDA graph
def tiny_net() -> FFNet:
    torch.manual_seed(0)
    net = FFNet(in_channels=1, num_classes=10, widths=(10, 20), image_size=8)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for layer in net.layers:
            layer.A.copy_(torch.randn(layer.A.shape, generator=gen))
    return net.eval()  # no dropout: both forms see the same activations


def test_ddp_wrapper_gives_the_plain_gradients() -> None:
    """One gloo process: DDP's all-reduce averages over one rank, so the gradients are the plain loss's."""
    import torch.distributed as dist

    from ffviz.method.distributed import DistContext

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
    dist.init_process_group("gloo", rank=0, world_size=1)
    try:
        cfg = RunConfig(orth_warmup_epochs=0)
        x = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(4))
        y = torch.arange(8)
        lam = torch.tensor([0.01, 0.1])
        plain, wrapped = tiny_net(), tiny_net()
        fused_loss(plain, x, y, lam, cfg).loss.backward()
        ddp = wrap_ddp(wrapped, lambda *a: fused_loss(wrapped, *a, cfg), DistContext(0, 1, 0, "gloo"), cuda=False)
        ddp(x, y, lam).loss.backward()
        for p, q in zip(plain.parameters(), wrapped.parameters(), strict=True):
            close(q.grad, p.grad)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_captured_step_equals_the_eager_step() -> None:
    from ffviz.data import DataSplits
    from ffviz.method.trainer import Trainer

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(96, 1, 8, 8, generator=gen)
    yy = torch.arange(96) % 10
    data = DataSplits(name="tiny", train_x=x[:64], train_y=yy[:64], val_x=x[64:80], val_y=yy[64:80],
                      test_x=x[80:], test_y=yy[80:], num_classes=10, class_names=tuple("0123456789"),
                      mean=(0.0,), std=(1.0,))
    runs = {}
    for compile_ in (False, True):
        cfg = RunConfig(dataset="digits", widths=(10, 20), device="cuda", batch_size=16, seed=7, compile=compile_,
                        bf16=False, channels_last=False, orth_warmup_epochs=0)
        tr = Trainer(cfg, data=data)
        tr.model.train()
        for i in range(4):
            tr._step(data.train_x[16 * i:16 * (i + 1)], data.train_y[16 * i:16 * (i + 1)], (0.01, 0.001))
        assert tr.graph_error is None
        runs[compile_] = [p.detach().cpu() for p in tr.model.parameters()]
    for p, q in zip(runs[True], runs[False], strict=True):
        close(p, q, rtol=1e-4)
