"""A CAW-Conv layer's work after its convolution, in two passes over the activation on the CPU: compiled C++ kernels.

Plain form (ffviz/method/model/layer.py, with ffviz.method.fast.activation and ffviz.method.fast.norm):
    y = ReLU(z) * keep          # keep: 0 or scale = 1/(1-p), from 16 random bits per activation (fast.dropout)
    p = a*mean_hw(y) + b*max_hw(y) - d*min_hw(y)
    h = InstanceNorm(y)         # what the next layer sees; no gradient in the Forward-Forward modes
and the gradient of p with respect to z (ties at the max or min share it, as amax/amin do).

Eager PyTorch makes about a dozen passes over the activation for the forward and eight for the backward, and two
layout copies around each channels-last convolution: on the CPU these memory-bound passes cost more than the
convolutions themselves (bench/REPORT.md, "step profile"). torch.compile (inductor's C++ backend) fuses each side
into one reduction pass and one pointwise pass that read the conv's channels-last output where it lies and write h
channels-last for the next conv. The shapes are dynamic and the coefficients are tensors, so one compiled graph per
function serves every layer, batch and run; inductor keeps the compiled code in its on-disk cache, so only the first
run on a machine (per thread count) compiles (bench/REPORT.md states the cost). Where compiling fails (no C++
compiler, an unsupported platform) `prepare` says why and the layer keeps the eager form.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch.utils import _python_dispatch

EPS = 1e-5  # F.instance_norm's


def _forward_train(z: torch.Tensor, bits: torch.Tensor, threshold: torch.Tensor, coef: torch.Tensor):
    """z (B, C, H, W) conv output, bits (B, C, H, W) int32 holding 16 random bits each (inductor vectorizes int32
    comparisons, not int16 ones: 1.2 against 5 ms on 64x20x32x32), coef (a, b, d, scale) -> y, p, max, min, h.
    y and h keep z's dtype (bf16 under the CPU's bf16 convolutions); p, max and min are float32."""
    y = (torch.relu(z.float()) * torch.where(bits >= threshold, coef[3], 0.0)).to(z.dtype)
    return (y, *_pool_and_norm(y, coef))


def _forward_plain(z: torch.Tensor, coef: torch.Tensor):
    """No dropout (evaluation, or a run with dropout 0): z -> y, p, max, min, h."""
    y = torch.relu(z)
    return (y, *_pool_and_norm(y, coef))


def _forward_eval(z: torch.Tensor, coef: torch.Tensor):
    """Without a gradient: z -> p, h (y is never written to memory)."""
    _, p, _, _, h = _forward_plain(z, coef)
    return p, h


def _pool_and_norm(y: torch.Tensor, coef: torch.Tensor):
    yf = y.float()  # statistics in float32 whatever y's dtype: the class goodness must resolve small differences
    mx, mn, mean = yf.amax(dim=(2, 3)), yf.amin(dim=(2, 3)), yf.mean(dim=(2, 3))
    p = coef[0] * mean + coef[1] * mx - coef[2] * mn
    centred = yf - mean[:, :, None, None]
    var = centred.square().mean(dim=(2, 3), keepdim=True)  # biased, as instance norm
    return p, mx, mn, (centred * torch.rsqrt(var + EPS)).to(y.dtype)


def _backward(y: torch.Tensor, mx: torch.Tensor, mn: torch.Tensor, grad_p: torch.Tensor, coef: torch.Tensor):
    """dp/dz applied to grad_p (B, C): the mean's share everywhere, the max's and min's shared among their ties; then
    zero wherever y == 0 (ReLU off or dropped) and `scale` (coef[3]) wherever it was kept."""
    y, out = y.float(), y.dtype  # mx and mn hold y's values exactly, so the ties compare exactly in float32
    at_max = (y == mx[:, :, None, None]).to(y.dtype)
    at_min = (y == mn[:, :, None, None]).to(y.dtype)
    gp = grad_p * coef[3]
    g_max = (gp * coef[1] / at_max.sum(dim=(2, 3)))[:, :, None, None]
    g_min = (gp * -coef[2] / at_min.sum(dim=(2, 3)))[:, :, None, None]
    g_mean = (gp * coef[0] / (y.shape[2] * y.shape[3]))[:, :, None, None]
    return torch.where(y > 0, at_max * g_max + at_min * g_min + g_mean, 0.0).to(out)


_EAGER = {"train": _forward_train, "plain": _forward_plain, "eval": _forward_eval, "backward": _backward}


@dataclass
class KernelState:
    """What this process's kernels are: compiled (and how long that took), or eager and why."""

    compiled: dict | None = None
    dtypes: set = field(default_factory=set)  # the activation dtypes warmed
    seconds: float = 0.0
    error: str | None = None

    def describe(self) -> dict:
        return {"fused": self.compiled is not None, "prepare_seconds": round(self.seconds, 2), "error": self.error}


_STATE = KernelState()


def prepare(dtype: torch.dtype = torch.float32) -> KernelState:
    """Compile (or load from inductor's cache) the four kernels once per process for activations of ``dtype``,
    running each on a small tensor of the training layout so that the first real step finds them ready. A failure is
    kept, not raised."""
    if _STATE.error is not None or dtype in _STATE.dtypes:
        return _STATE
    start = time.perf_counter()
    try:
        compiled = _STATE.compiled or {name: torch.compile(fn, dynamic=True, fullgraph=True)
                                       for name, fn in _EAGER.items()}
        for name in compiled:
            _warm(compiled, name, dtype)
        _STATE.compiled = compiled
        _STATE.dtypes.add(dtype)
    except Exception as e:  # no compiler, an inductor bug: the eager forms are exact, only slower
        _STATE.error = _reason(e)
    _STATE.seconds += time.perf_counter() - start
    return _STATE


def prepare_for(bf16: bool) -> KernelState:
    """The kernels a run needs: float32 always (the layers whose maps stay float32), bf16 too when its convolutions
    run in bf16."""
    state = prepare(torch.float32)
    return prepare(torch.bfloat16) if bf16 else state


def _reason(e: Exception) -> str:
    """One line for meta.json: a compiler's own "error:" line (inductor's first line only says it failed)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    said = next((line for line in lines if "error:" in line), lines[0] if lines else "")
    return f"{type(e).__name__}: {said[:300]}"


@torch.no_grad()  # as they run: inside an autograd Function's forward and backward (grad mode is guarded)
def _warm(compiled: dict, name: str, dtype: torch.dtype) -> None:
    """One call on a (24, 20, 30, 32) channels-last tensor (a conv's output layout), checked against the eager form.
    Sizes above 1 and unlike each other and coef's 4, so that the dynamic graph assumes nothing of them; and large
    enough, since inductor splits its loops among the OpenMP threads by the first call's sizes (a tiny warm-up gave
    serial kernels: bench/NOTES.md)."""
    gen = torch.Generator().manual_seed(0)
    shape = (24, 20, 30, 32)
    z = torch.randn(shape, generator=gen).to(dtype).contiguous(memory_format=torch.channels_last)
    coef = torch.tensor([0.94, 0.06, 0.05, 1.25])
    if name == "train":
        args = (z, torch.randint(-(1 << 15), 1 << 15, shape, dtype=torch.int32, generator=gen),
                torch.tensor(-26214, dtype=torch.int32), coef)
    elif name == "backward":
        y = torch.relu(z)
        args = (y, y.float().amax(dim=(2, 3)), y.float().amin(dim=(2, 3)), torch.randn(shape[:2], generator=gen), coef)
    else:
        args = (z, coef)
    got, want = compiled[name](*args), _EAGER[name](*args)
    pairs = [(got, want)] if name == "backward" else list(zip(got, want, strict=True))
    for g, w in pairs:
        if not torch.allclose(g.float(), w.float(), rtol=1e-2 if dtype == torch.bfloat16 else 1e-4, atol=1e-5):
            raise RuntimeError(f"the compiled {name} kernel disagrees with its eager form")


def kernels() -> dict | None:
    """The compiled kernels, or None where `prepare` was not called or failed."""
    return _STATE.compiled


def state() -> KernelState:
    return _STATE


def _run(name: str, *args: torch.Tensor):
    """The compiled kernel, or its eager form under a Python dispatch mode (a test's operator recorder, a
    FakeTensor tracer), where compiled frames do not run: the same operators, so the same values."""
    if _python_dispatch._get_current_dispatch_mode() is not None:
        return _EAGER[name](*args)
    return _STATE.compiled[name](*args)


class _FusedActivation(torch.autograd.Function):
    """z -> (p, h) with the compiled forward and backward; saves y and its max and min for the backward."""

    @staticmethod
    def forward(ctx, z, bits, threshold, coef):
        z = z.detach()  # the kernels see plain tensors (dynamo guards on requires_grad)
        y, p, mx, mn, h = _run("plain", z, coef) if bits is None else _run("train", z, bits, threshold, coef)
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(h)  # FF: the next layer detaches its input
        ctx.save_for_backward(y, mx, mn, coef)
        return p, h

    @staticmethod
    def backward(ctx, grad_p, grad_h):
        if grad_p is None:
            return None, None, None, None
        y, mx, mn, coef = ctx.saved_tensors
        return _run("backward", y, mx, mn, grad_p, coef), None, None, None


def activate_pool_norm(z: torch.Tensor, bits: torch.Tensor | None, threshold: torch.Tensor, coef: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """(p, h) of the conv output z with the compiled kernels (`prepare` first): bits None means no dropout. Without
    a gradient to carry, y is never written."""
    if not (torch.is_grad_enabled() and z.requires_grad):
        if bits is None:
            return _run("eval", z, coef)
        _, p, _, _, h = _run("train", z, bits, threshold, coef)
        return p, h
    return _FusedActivation.apply(z, bits, threshold, coef)
