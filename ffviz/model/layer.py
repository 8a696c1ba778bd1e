"""One CAW-Conv layer: a 3x3 conv whose channels vote for classes through a learnable soft assignment W.

    y = Dropout(ReLU(Conv3x3(x)))                                # (B, C, H, W)
    p = a*mean_hw(y) + b*max_hw(y) - d*min_hw(y)                 # (B, C)  per-channel goodness, not squared
    W = softmax(A / T_e, dim=classes)                            # (C, K)  each channel spreads one unit over K
    g = p @ W                                                    # (B, K)  class goodness = the layer's logits
    h = InstanceNorm(y)                                          # what the next layer sees

With ``assignment="static"`` W is the fixed block one-hot of CwComp/DeeperForward: channel c belongs to class
c // (C/K), scaled by K/C so that g_k is the mean goodness of class k's block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class GoodnessSpec:
    """How a layer pools goodness and sets its assignment temperature (all from RunConfig)."""

    mean: float = 0.94
    max: float = 0.06
    min: float = 0.05
    temperature: float = 10.0
    temp_decay: float = 0.995
    temp_min: float = 0.1
    temp_max: float = 100.0


def pooled_goodness(y: torch.Tensor, spec: GoodnessSpec) -> torch.Tensor:
    """(B, C, H, W) -> (B, C): a*mean + b*max - d*min over the spatial positions."""
    return spec.mean * y.mean(dim=(2, 3)) + spec.max * y.amax(dim=(2, 3)) - spec.min * y.amin(dim=(2, 3))


# Dropout masks on the CPU come from 16 random bits per activation: PyTorch's CPU generator makes 64 bits at a time
# about ten times faster than it makes floats for bernoulli_ (1.5 ms against 15 ms for the 1.3M activations of a
# side-by-side step). The drop probability is thus rounded to a multiple of 2^-16 (0.1 -> 0.100006), and kept
# activations are scaled by 1 / (1 - that probability), so the layer's expected output is unchanged.
_MASK_LEVELS = 1 << 16


def keep_mask(z: torch.Tensor, p: float, generator: torch.Generator | None) -> tuple[torch.Tensor, float]:
    """A float mask shaped like z, `scale` = 1 / (1 - p) where the activation is kept, 0 where it is dropped; and
    that scale."""
    if z.device.type == "cpu" and generator is not None:
        threshold = round(p * _MASK_LEVELS)
        scale = _MASK_LEVELS / (_MASK_LEVELS - threshold)
        words = torch.empty((z.numel() + 3) // 4, dtype=torch.int64).random_(-(1 << 63), None, generator=generator)
        bits = words.view(torch.int16)[: z.numel()].view(z.shape)  # uniform on [-2^15, 2^15)
        # comparisons straight into a float tensor: several times faster on the CPU than making a bool mask
        keep = torch.ge(bits, threshold - (_MASK_LEVELS >> 1), out=torch.empty(z.shape, dtype=z.dtype))
        return keep.mul_(scale), scale
    keep = torch.empty_like(z).bernoulli_(1.0 - p, generator=generator)  # z's layout (channels-last on CUDA)
    return keep.mul_(1.0 / (1.0 - p)), 1.0 / (1.0 - p)


class _ActivateAndPool(torch.autograd.Function):
    """z (B, C, H, W) conv output -> y = ReLU(z) * keep, and p = a*mean + b*max - d*min of y over (H, W).

    One hand-written backward instead of autograd's chain (dropout, ReLU, mean, amax, amin): it saves y alone (not
    the mask: wherever y > 0 the mask is the keep scale), makes no bool tensors (slow on the CPU) and touches the
    big tensor about half as often. Ties at the max (or min) share its gradient equally, as amax/amin do.
    """

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


def activate_and_pool(z: torch.Tensor, keep: torch.Tensor | None, scale: float, spec: GoodnessSpec
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, p) = (ReLU(z) * keep, pooled_goodness(y)) with the fused backward of `_ActivateAndPool`; ``keep`` is
    0 or ``scale`` everywhere (`keep_mask`), or None for no dropout."""
    return _ActivateAndPool.apply(z, keep, scale, spec.mean, spec.max, spec.min)


def instance_norm(y: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(B, C, H, W) -> each (sample, channel) map to zero mean and unit variance; as F.instance_norm, but about three
    times faster on the CPU (where there is no gradient to carry, which is always the case in the FF modes)."""
    if y.requires_grad and torch.is_grad_enabled():
        return F.instance_norm(y, eps=eps)
    if y.device.type == "cpu":
        h = y - y.mean(dim=(2, 3), keepdim=True)
        var = h.square().mean(dim=(2, 3), keepdim=True)  # biased, as instance norm
        return h.mul_(var.add_(eps).rsqrt_())
    # one pass for both statistics; keeps y's dtype and layout (bf16, channels-last), which F.instance_norm does not
    var, mean = torch.var_mean(y, dim=(2, 3), keepdim=True, correction=0)
    return (y - mean).mul_(var.add_(eps).rsqrt_())


def static_assignment(channels: int, num_classes: int) -> torch.Tensor:
    """(C, K) block one-hot scaled by K/C: contiguous blocks of C/K channels per class."""
    if channels % num_classes:
        raise ValueError(f"a layer of {channels} channels cannot be split evenly among {num_classes} classes")
    per = channels // num_classes
    w = torch.zeros(channels, num_classes)
    w[torch.arange(channels), torch.arange(channels) // per] = num_classes / channels
    return w


class CAWConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_classes: int, *, stride: int = 1,
                 dropout: float = 0.1, learnable: bool = True, spec: GoodnessSpec = GoodnessSpec()) -> None:
        super().__init__()
        if out_channels % num_classes:
            raise ValueError(f"out_channels={out_channels} must be divisible by the number of classes "
                             f"({num_classes}) so channels can be partitioned among classes")
        self.spec = spec
        self.learnable = learnable
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.dropout = dropout
        # The trainer hands every layer its own generator so that dropout masks depend on the run's seed alone,
        # not on whatever else (another run in another thread) draws from PyTorch's global RNG.
        self.generator: torch.Generator | None = None
        if learnable:
            # Constant init: at step 0 every class gets the same goodness, so the conv gets zero gradient and
            # A must break the symmetry first, through the data.
            self.A = nn.Parameter(torch.full((out_channels, num_classes), 0.5))
            self.log_T = nn.Parameter(torch.tensor(math.log(spec.temperature)))
        else:
            self.register_buffer("W_static", static_assignment(out_channels, num_classes))
        # decay^epoch: a buffer rather than a Python float so a compiled graph need not recompile every epoch, and
        # persistent so a loaded checkpoint has exactly the W it was trained with.
        self.register_buffer("temp_factor", torch.tensor(1.0))

    def set_epoch(self, epoch: int) -> None:
        self.temp_factor.fill_(self.spec.temp_decay ** epoch)

    def temperature(self) -> torch.Tensor:
        """T_e = clamp(exp(log T), min, max) * decay^epoch (a 0-dim tensor; NaN for static layers)."""
        if not self.learnable:
            return torch.tensor(float("nan"))
        return self.log_T.exp().clamp(self.spec.temp_min, self.spec.temp_max) * self.temp_factor

    def assignment(self) -> torch.Tensor:
        """(C, K) channel -> class weights; rows sum to one (learnable) or K/C (static)."""
        if not self.learnable:
            return self.W_static
        return F.softmax(self.A / self.temperature(), dim=1)

    def forward(self, x: torch.Tensor, *, detach_input: bool = True, w: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, Cin, H, W) -> (h (B, C, H', W') for the next layer, g (B, K), p (B, C), W (C, K)).

        ``w``: this layer's assignment when the caller computed it already (`FFNet.assignment_terms` does all
        layers at once); otherwise it is computed here.
        """
        if detach_input:
            x = x.detach()  # Forward-Forward: no gradient ever crosses into the previous layer
        if self.conv.weight.device.type == "cpu" and self.conv.weight.is_contiguous(memory_format=torch.channels_last) \
                and not self.conv.weight.is_contiguous():
            # oneDNN's convolutions are faster channels-last, PyTorch's CPU reductions and norms channels-first
            z = self.conv(x.contiguous(memory_format=torch.channels_last)).contiguous()
        else:
            z = self.conv(x)
        keep, scale = keep_mask(z, self.dropout, self.generator) if self.training and self.dropout > 0 else (None, 1.0)
        y, p = activate_and_pool(z, keep, scale, self.spec)
        w = self.assignment() if w is None else w
        with torch.autocast(p.device.type, enabled=False):
            # float32: under bf16, g (the logits) would keep about 3 significant digits, too few to tell the classes
            # apart while W is nearly uniform (bf16 training then fails to learn)
            g = p @ w.to(p.dtype)
        # Goodness is read before the norm. In FF modes the norm carries no gradient (the next layer detaches its
        # input anyway), so skip building its graph.
        h = instance_norm(y.detach() if detach_input else y)
        return h, g, p, w
