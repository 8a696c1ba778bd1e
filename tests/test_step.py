"""The training step (ffviz.method.trainer.Trainer._step) against the Forward-Forward rule, computed the authors' way.

- fused: one forward, the local losses summed, one backward, one optimizer step, clipping per layer; after several
  steps it leaves the same weights as one AdamW per layer, each stepping in turn right after its own backward;
- lean: each layer's backward right after its forward; the same gradients as fused;
- no layer computes the gradient of its input (every convolution backward is asked for the weight gradient only);
- the batched assignments and penalties equal the per-layer ones (the speed tricks in ffviz/method/fast/ are checked
  against their plain forms in tests/test_fast.py).
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from ffviz.config import RunConfig
from ffviz.data import DataSplits
from ffviz.method.losses import entropy_penalty, orthogonality_penalty, regularizer_terms
from ffviz.method.model import FFNet
from ffviz.method.step import lean_backward
from ffviz.method.trainer import Trainer


def tiny_data(n: int = 96, size: int = 8, seed: int = 0) -> DataSplits:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, size, size, generator=gen)
    y = torch.arange(n) % 10
    return DataSplits(name="tiny", train_x=x[:64], train_y=y[:64], val_x=x[64:80], val_y=y[64:80],
                      test_x=x[80:], test_y=y[80:], num_classes=10, class_names=tuple("0123456789"),
                      mean=(0.0,), std=(1.0,))


def make_trainer(**changes) -> Trainer:
    cfg = RunConfig(dataset="digits", widths=(10, 20), device="cpu", batch_size=16, lr=0.02, grad_clip=0.05,
                    seed=7, lambda_orth=0.05, orth_warmup_epochs=0, **changes)
    return Trainer(cfg, data=tiny_data())


def randomize(model: FFNet, seed: int = 3) -> None:
    """Non-uniform assignments, so that the convs get gradient from the first step."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.layers:
            if layer.learnable:
                layer.A.copy_(torch.randn(layer.A.shape, generator=gen))
                layer.log_T.fill_(math.log(0.5 + torch.rand((), generator=gen).item()))


def lambdas(tr: Trainer, warm: float) -> tuple[float, float]:
    """The regularizers' weights in the loss, in the registry's order (entropy, orth), with the orth warm-up."""
    return (tr.cfg.lambda_entropy, tr.cfg.lambda_orth * warm)


def lean(tr: Trainer, x: torch.Tensor, y: torch.Tensor, rw: torch.Tensor):
    return lean_backward(tr.model, x, y, rw, tr.cfg)


def batches(tr: Trainer, steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(tr.data.train_x[16 * i:16 * (i + 1)], tr.data.train_y[16 * i:16 * (i + 1)]) for i in range(steps)]


def authors_step(model: FFNet, opts: list[torch.optim.Optimizer], x: torch.Tensor, y: torch.Tensor,
                 cfg: RunConfig, warm: float) -> None:
    """The authors' way: layer by layer, forward (input detached), its own loss, backward, clip, its own step."""
    for out, layer, opt in zip(model.layers_forward(x, detach=True), model.layers, opts, strict=True):
        loss = F.cross_entropy(out.g, y, label_smoothing=cfg.label_smoothing)
        if layer.learnable:
            loss = loss + cfg.lambda_entropy * entropy_penalty(out.w) \
                + cfg.lambda_orth * warm * orthogonality_penalty(out.w, cfg.orth_scaling)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(layer.parameters(), cfg.grad_clip)
        opt.step()


# ------------------------------------------------------------------------------------------- fused = authors' way
@pytest.mark.parametrize("mode,orth_scaling,ff_step", [
    ("learnable", "mean", "fused"), ("learnable", "authors", "fused"), ("static", "mean", "fused"),
    ("learnable", "mean", "lean")])
def test_step_equals_one_optimizer_per_layer(mode: str, orth_scaling: str, ff_step: str) -> None:
    tr = make_trainer(mode=mode, orth_scaling=orth_scaling, ff_step=ff_step)
    randomize(tr.model)
    ref = copy.deepcopy(tr.model)
    ref.set_generator(torch.Generator().manual_seed(tr.cfg.seed + 1))  # the same dropout masks, drawn in order
    opts = [torch.optim.AdamW(layer.parameters(), lr=tr.cfg.lr, weight_decay=tr.cfg.weight_decay)
            for layer in ref.layers]
    tr.model.train()
    ref.train()
    for x, y in batches(tr, 4):
        tr._step(x, y, lambdas(tr, 0.5))
        authors_step(ref, opts, x, y, tr.cfg, 0.5)
    for (name, p), q in zip(tr.model.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=name)
    # and the weights did move: the comparison is not vacuous
    first = make_trainer(mode=mode, orth_scaling=orth_scaling)
    randomize(first.model)
    assert any(not torch.allclose(p, q) for p, q in zip(tr.model.parameters(), first.model.parameters(), strict=True))


def test_clipping_was_active() -> None:
    """With grad_clip=0.05 the per-layer norms before clipping exceed it, so the test above exercises clipping."""
    tr = make_trainer()
    randomize(tr.model)
    x, y = batches(tr, 1)[0]
    tr._losses(x, y, torch.tensor([tr.cfg.lambda_entropy, tr.cfg.lambda_orth])).loss.backward()
    norms = [torch.nn.utils.get_total_norm([p.grad for p in layer.parameters()]).item() for layer in tr.model.layers]
    assert max(norms) > 0.05


# ------------------------------------------------------------------------------------------------ lean = fused
@pytest.mark.parametrize("mode", ["learnable", "static"])
def test_lean_gives_the_fused_gradients(mode: str) -> None:
    fused, lean_tr = make_trainer(mode=mode), make_trainer(mode=mode, ff_step="lean")
    randomize(fused.model)
    randomize(lean_tr.model)
    x, y = batches(fused, 1)[0]
    rw = torch.tensor([fused.cfg.lambda_entropy, fused.cfg.lambda_orth * 0.5])
    f = fused._losses(x, y, rw)
    f.loss.backward()
    le = lean(lean_tr, x, y, rw)
    torch.testing.assert_close(le.loss, f.loss.detach())
    torch.testing.assert_close(le.ce, f.ce.detach())
    torch.testing.assert_close(le.correct, f.correct)
    for name in f.terms:
        torch.testing.assert_close(le.terms[name], f.terms[name].detach())
    for (name, p), q in zip(fused.model.named_parameters(), lean_tr.model.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None, name
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-7, msg=name)


class _Saved:
    """A tensor autograd keeps for backward; counts its storage's bytes while any graph holds it."""

    def __init__(self, t: torch.Tensor, ledger: dict) -> None:
        self.t, self.ledger, self.key = t, ledger, t.untyped_storage().data_ptr()
        refs = ledger["refs"]
        if refs.get(self.key, 0) == 0:
            ledger["now"] += t.untyped_storage().nbytes()
            ledger["peak"] = max(ledger["peak"], ledger["now"])
        refs[self.key] = refs.get(self.key, 0) + 1

    def __del__(self) -> None:
        refs = self.ledger["refs"]
        refs[self.key] -= 1
        if refs[self.key] == 0:
            self.ledger["now"] -= self.t.untyped_storage().nbytes()


def saved_bytes_peak(fn) -> int:
    """Peak bytes of the tensors autograd keeps for backward while fn runs (its activation memory)."""
    ledger = {"now": 0, "peak": 0, "refs": {}}
    with torch.autograd.graph.saved_tensors_hooks(lambda t: _Saved(t, ledger), lambda s: s.t):
        fn()
    return ledger["peak"]


def test_lean_keeps_fewer_activations() -> None:
    """The lean step's saved tensors are one layer's at most; the fused step keeps every layer's until backward."""
    fused, lean_tr = make_trainer(), make_trainer(ff_step="lean")
    x, y = batches(fused, 1)[0]
    rw = torch.tensor([0.01, 0.0])

    def fused_step() -> None:
        fused._losses(x, y, rw).loss.backward()

    peak_fused = saved_bytes_peak(fused_step)
    peak_lean = saved_bytes_peak(lambda: lean(lean_tr, x, y, rw))
    assert 0 < peak_lean < peak_fused / 2


# ------------------------------------------------------------------------------- weight gradients only in FF
class ConvBackwardRecorder(TorchDispatchMode):
    """Records the output_mask (grad_input, grad_weight, grad_bias) of every convolution backward."""

    def __init__(self) -> None:
        super().__init__()
        self.masks: list[list[bool]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.convolution_backward.default:
            self.masks.append(list(args[-1]))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("ff_step", ["fused", "lean"])
def test_no_layer_computes_the_gradient_of_its_input(ff_step: str) -> None:
    tr = make_trainer(ff_step=ff_step)
    randomize(tr.model)
    x, y = batches(tr, 1)[0]
    with ConvBackwardRecorder() as rec:
        tr._step(x, y, lambdas(tr, 0.0))
    assert len(rec.masks) == tr.model.num_layers
    assert all(mask[:2] == [False, True] for mask in rec.masks), rec.masks


def test_backprop_computes_input_gradients() -> None:
    """The recorder does see input gradients when they are asked for: backprop needs them for every layer but the
    first (whose input is the data)."""
    tr = make_trainer(mode="backprop")
    randomize(tr.model)
    x, y = batches(tr, 1)[0]
    with ConvBackwardRecorder() as rec:
        tr._step(x, y, lambdas(tr, 0.0))
    assert len(rec.masks) == tr.model.num_layers
    assert sum(mask[0] for mask in rec.masks) == tr.model.num_layers - 1


# ---------------------------------------------------------------------------------------------- batched pieces
@pytest.mark.parametrize("scaling", ["mean", "authors"])
@pytest.mark.parametrize("epoch", [0, 30])
def test_assignment_terms_equal_per_layer(scaling: str, epoch: int) -> None:
    torch.manual_seed(0)
    net = FFNet(in_channels=1, num_classes=10, widths=(10, 20, 40), image_size=8)
    randomize(net)
    net.set_epoch(epoch)
    assign = net.assignments()
    terms = regularizer_terms(assign.padded, assign.channels, RunConfig(orth_scaling=scaling))
    assert len(assign.w) == net.num_layers
    for i, layer in enumerate(net.layers):
        w = layer.assignment()
        torch.testing.assert_close(assign.w[i], w, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(terms["entropy"][i], entropy_penalty(w), rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(terms["orth"][i], orthogonality_penalty(w, scaling), rtol=1e-5, atol=1e-12)
    # and their gradients
    (terms["entropy"].sum() + 3 * terms["orth"].sum() + sum((w * w).sum() for w in assign.w)).backward()
    batched = [p.grad.clone() for p in net.parameters() if p.grad is not None]
    net.zero_grad(set_to_none=True)
    sum(entropy_penalty(w) + 3 * orthogonality_penalty(w, scaling) + (w * w).sum()
        for w in (layer.assignment() for layer in net.layers)).backward()
    per_layer = [p.grad for p in net.parameters() if p.grad is not None]
    assert len(batched) == len(per_layer) == 2 * net.num_layers
    # Float32 sums in another order (another SIMD width: AVX2 or AVX-512) differ by a few ulps of the largest terms
    # summed, not of the result: an element that nearly cancels to 0 can be 2e-8 apart while its tensor's scale is
    # ~1. So the absolute tolerance scales with each gradient tensor's largest entry.
    for a, b in zip(batched, per_layer, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=2e-5 * b.abs().max().item())


def test_assignment_terms_static() -> None:
    net = FFNet(in_channels=1, num_classes=10, widths=(10, 20), image_size=8, learnable=False)
    assign = net.assignments()
    terms = regularizer_terms(assign.padded, assign.channels, RunConfig())
    assert all(torch.equal(w, layer.W_static) for w, layer in zip(assign.w, net.layers, strict=True))
    assert torch.equal(terms["entropy"], torch.zeros(9)) and torch.equal(terms["orth"], torch.zeros(9))


def test_same_seed_same_weights() -> None:
    a, b = make_trainer(), make_trainer()
    for x, y in batches(a, 3):
        a._step(x, y, lambdas(a, 0.0))
        b._step(x, y, lambdas(b, 0.0))
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True))
