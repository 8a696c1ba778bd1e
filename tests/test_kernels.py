"""The compiled CPU kernels (ffviz/method/fast/kernels.py) against the plain forms they replace: the layer's y, p and
h, the gradient of p, the dropout mask, bf16, and a run that falls back to eager PyTorch when compiling fails.

The first test in a fresh machine compiles the kernels (inductor's C++ backend, about half a minute); later ones
and later processes load them from inductor's disk cache."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F

from ffviz.config import RunConfig
from ffviz.method.fast import kernels
from ffviz.method.fast.activation import activate_and_pool
from ffviz.method.fast.dropout import keep_bits, keep_mask, layers_bits
from ffviz.method.model import pooled_goodness
from ffviz.method.model.layer import CAWConv, GoodnessSpec
from ffviz.method.trainer import Trainer, one_group

SPEC = GoodnessSpec()


def tiny(**kw) -> RunConfig:
    """A 9-layer network on 8x8 digits: seconds per run."""
    return RunConfig(**{**dict(preset="classroom-mini", epochs=1, batch_size=64, image_size=8, probe_size=16,
                               device="cpu"), **kw})


@pytest.fixture(scope="module")
def compiled() -> dict:
    state = kernels.prepare_for(bf16=True)
    if state.compiled is None:
        pytest.fail(f"the kernels did not compile on this machine: {state.error}")
    return state.compiled


def close(got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-5) -> None:
    torch.testing.assert_close(got.float(), want.float(), rtol=rtol, atol=rtol * max(want.abs().max().item(), 1e-6))


def conv_output(shape=(6, 10, 9, 9), seed=0, channels_last=True) -> torch.Tensor:
    z = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    z[0, 0] = 0.3  # a constant map: every position ties at the max and the min
    z[1, 1, :4] = 2.0  # a plateau at the max
    return z.contiguous(memory_format=torch.channels_last) if channels_last else z


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_forward_and_gradient_equal_the_plain_forms(compiled: dict, channels_last: bool, dropout: float) -> None:
    z = conv_output(channels_last=channels_last)
    gen = torch.Generator().manual_seed(3)
    if dropout:
        bits, threshold, scale = keep_bits(z, dropout, gen)
        keep, _ = keep_mask(z, dropout, torch.Generator().manual_seed(3))  # the same draws
        bits = bits.to(torch.int32)
    else:
        bits, threshold, scale, keep = None, 0, 1.0, None
    coef = torch.tensor([SPEC.mean, SPEC.max, SPEC.min, scale])
    zg = z.clone().requires_grad_(True)
    p, h = kernels.activate_pool_norm(zg, bits, torch.tensor(threshold, dtype=torch.int32), coef)
    y_ref = F.relu(z) * (1.0 if keep is None else keep)
    close(p, pooled_goodness(y_ref, SPEC))
    close(h, F.instance_norm(y_ref), rtol=1e-4)
    assert h.is_contiguous(memory_format=torch.channels_last) == channels_last  # the next conv's layout
    gp = torch.randn(p.shape, generator=gen)
    (p * gp).sum().backward()
    zr = z.clone().requires_grad_(True)
    _, p_ref = activate_and_pool(zr, keep, scale, SPEC)  # the tested hand-written backward (tests/test_fast.py)
    (p_ref * gp).sum().backward()
    close(zg.grad, zr.grad)


def test_one_draw_for_every_layer_gives_each_layer_its_own_bits() -> None:
    shapes = [(3, 5, 7, 7), (3, 6, 4, 4), (3, 7, 1, 1)]  # sizes that are not multiples of 4 words apart
    together = layers_bits(shapes, torch.Generator().manual_seed(9))
    gen = torch.Generator().manual_seed(9)
    for got, shape in zip(together, shapes, strict=True):
        want, _, _ = keep_bits(torch.empty(shape), 0.1, gen)
        assert got.dtype == torch.int32 and torch.equal(got, want.to(torch.int32))


def test_without_a_gradient_nothing_but_p_and_h(compiled: dict) -> None:
    z = conv_output()
    coef = torch.tensor([SPEC.mean, SPEC.max, SPEC.min, 1.0])
    with torch.no_grad():
        p, h = kernels.activate_pool_norm(z, None, torch.tensor(0, dtype=torch.int32), coef)
    close(p, pooled_goodness(F.relu(z), SPEC))
    close(h, F.instance_norm(F.relu(z)), rtol=1e-4)


def test_bf16_keeps_the_goodness_in_float32(compiled: dict) -> None:
    z = conv_output()
    coef = torch.tensor([SPEC.mean, SPEC.max, SPEC.min, 1.0])
    zb = z.to(torch.bfloat16).requires_grad_(True)
    p, h = kernels.activate_pool_norm(zb, None, torch.tensor(0, dtype=torch.int32), coef)
    assert p.dtype == torch.float32 and h.dtype == torch.bfloat16
    close(p, pooled_goodness(F.relu(zb.detach().float()), SPEC))  # exact statistics of the bf16 values
    p.sum().backward()
    assert zb.grad.dtype == torch.bfloat16


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_a_fused_layer_equals_the_eager_layer(compiled: dict, dropout: float) -> None:
    torch.manual_seed(0)
    eager = CAWConv(8, 10, 5, dropout=dropout).to(memory_format=torch.channels_last)
    with torch.no_grad():
        eager.A.normal_()  # past the uniform start, where A's gradient is zero up to float noise
    fused = copy.deepcopy(eager)
    fused.fused = True
    for layer in (eager, fused):
        layer.generator = torch.Generator().manual_seed(7)
    x = torch.randn(4, 8, 6, 6)
    outs = [layer(x) for layer in (eager, fused)]
    for got, want in zip(outs[1], outs[0], strict=True):
        close(got, want, rtol=1e-4)
    for _, g, _, _ in outs:
        g.square().sum().backward()
    close(fused.conv.weight.grad, eager.conv.weight.grad, rtol=1e-4)
    close(fused.A.grad, eager.A.grad, rtol=1e-4)


def test_a_run_trains_with_them_and_says_so(compiled: dict, tmp_path) -> None:
    from ffviz.runner.run_writer import RunWriter

    cfg = tiny(seed=3)
    trainer = Trainer(cfg, callbacks=[RunWriter(tmp_path / "run")])
    assert trainer.kernels["fused"] and all(layer.fused for layer in trainer.model.layers)
    assert trainer.fit() == "finished"
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["kernels"]["fused"] is True and meta["kernels"]["error"] is None
    eager = Trainer(cfg.replace(cpu_kernels="eager"))
    assert eager.kernels == {"fused": False, "why": "not asked for"}
    assert not any(layer.fused for layer in eager.model.layers)


def test_the_first_step_is_the_eager_step(compiled: dict) -> None:
    """Same initial weights, same data, same dropout draws: the first step's loss agrees to float rounding."""
    cfg = tiny(seed=5, bf16=False)
    runs = [Trainer(cfg.replace(cpu_kernels=k)) for k in ("fused", "eager")]
    d = runs[0].data
    losses = [t._step(d.train_x[:16], d.train_y[:16], (1e-2, 1e-3)).loss.item() for t in runs]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_a_compiler_that_fails_leaves_the_eager_forms(monkeypatch) -> None:
    monkeypatch.setattr(kernels, "_STATE", kernels.KernelState())

    def no_compiler(fn, **_):
        raise RuntimeError("C++ compile error\ng++: fatal error: cannot execute 'cc1plus'")

    monkeypatch.setattr(torch, "compile", no_compiler)
    trainer = Trainer(tiny())
    assert trainer.kernels["fused"] is False
    assert "cannot execute" in trainer.kernels["error"]  # the compiler's own line, not inductor's first
    assert not any(layer.fused for layer in trainer.model.layers)
    assert trainer.fit() == "finished"


def test_old_checkpoints_per_layer_groups_load_as_one() -> None:
    state = {"state": {0: {"step": 1}, 3: {"step": 1}},
             "param_groups": [{"lr": 0.1, "params": [0, 1]}, {"lr": 0.1, "params": [2, 3]}]}
    merged = one_group(state)
    assert merged["param_groups"] == [{"lr": 0.1, "params": [0, 1, 2, 3]}]
    assert merged["state"] is state["state"]
    assert one_group(merged) is merged
