"""ReLU, dropout and goodness pooling in one op, with a hand-written backward.

Plain form (what CAWConv's docstring says):
    y = ReLU(z) * keep                                   # keep: 0 or 1/(1-p) (ffviz.method.fast.dropout), or 1
    p = a*mean_hw(y) + b*max_hw(y) - d*min_hw(y)         # ffviz.method.model.layer.pooled_goodness
One backward instead of autograd's chain (dropout, ReLU, mean, amax, amin): it saves y alone (not the mask: wherever
y > 0 the mask is the keep scale), makes no bool tensors (slow on the CPU) and touches the big tensor about half as
often. Ties at the max (or min) share its gradient equally, as amax/amin do.
"""

from __future__ import annotations

from typing import Protocol

import torch

from ffviz.method.fast.dropout import keep_mask


class PoolWeights(Protocol):
    """The pooling's (a, b, d): model/layer.py's GoodnessSpec is one (fast/ imports nothing of model/)."""

    mean: float
    max: float
    min: float


class _ActivateAndPool(torch.autograd.Function):
    """z (B, C, H, W) conv output -> (y = ReLU(z) * keep, p (B, C) pooled goodness of y)."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, keep: torch.Tensor | None, scale: float, a: float, b: float, d: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.set_materialize_grads(False)  # FF modes never use y's gradient: no zero tensor for it
        y = torch.relu(z)
        if keep is not None:
            y.mul_(keep)
        mx, mn = y.amax(dim=(2, 3)), y.amin(dim=(2, 3))  # (B, C), exact in any dtype
        # p in float32 even under bf16 autocast: the class goodness built from it must resolve small differences
        acc = torch.promote_types(y.dtype, torch.float32)
        p = y.mean(dim=(2, 3), dtype=acc).mul_(a).add_(mx.to(acc), alpha=b).sub_(mn.to(acc), alpha=d)
        ctx.save_for_backward(y, mx, mn)
        ctx.coeffs = (scale if keep is not None else 1.0, a, b, d)
        return y, p

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor | None, grad_p: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        y, mx, mn = ctx.saved_tensors
        scale, a, b, d = ctx.coeffs
        # dy/dz = keep where z > 0, i.e. `scale` wherever y > 0 and 0 elsewhere: scale the small factors below,
        # then zero the positions where y == 0
        grad_p = torch.zeros_like(mx) if grad_p is None else (grad_p if scale == 1.0 else grad_p * scale)
        at_max = torch.eq(y, mx[:, :, None, None], out=torch.empty_like(y))  # (B, C, H, W) 1.0 where y is the max
        at_min = torch.eq(y, mn[:, :, None, None], out=torch.empty_like(y))
        # (B, C, 1, 1), shared among ties; tie counts in float32 (bf16 counts exactly only up to 256)
        g_max = (grad_p * b / at_max.sum(dim=(2, 3), dtype=torch.float32))[:, :, None, None]
        g_min = (grad_p * -d / at_min.sum(dim=(2, 3), dtype=torch.float32))[:, :, None, None]
        g_mean = (grad_p * (a / (y.shape[2] * y.shape[3])))[:, :, None, None]
        grad = at_max.mul_(g_max).addcmul_(at_min, g_min).add_(g_mean)
        if grad_y is not None:
            grad = grad.add_(grad_y, alpha=scale)
        return torch.ops.aten.threshold_backward(grad, y, 0.0), None, None, None, None, None


def activate_and_pool(z: torch.Tensor, keep: torch.Tensor | None, scale: float, spec: PoolWeights
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, p) = (ReLU(z) * keep, pooled_goodness(y)) with the fused backward; ``keep`` is 0 or ``scale`` everywhere
    (`keep_mask`), or None for no dropout."""
    return _ActivateAndPool.apply(z, keep, scale, spec.mean, spec.max, spec.min)


def relu_dropout_goodness(z: torch.Tensor, dropout: float, generator: torch.Generator | None, spec: PoolWeights
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """z (B, C, H, W) -> (y = Dropout(ReLU(z)) (B, C, H, W), p (B, C) its pooled goodness); dropout=0: none."""
    keep, scale = keep_mask(z, dropout, generator) if dropout > 0 else (None, 1.0)
    return activate_and_pool(z, keep, scale, spec)
