"""One CAW-Conv layer: a 3x3 conv whose channels vote for classes through a learnable soft assignment W.

    y = Dropout(ReLU(Conv3x3(x.detach())))                       # (B, C, H, W)  no gradient crosses layers
    p = a*mean_hw(y) + b*max_hw(y) - d*min_hw(y)                 # (B, C)  per-channel goodness, not squared
    T_e = clamp(exp(log_T), 0.1, 100) * 0.995^epoch              # ()      assignment temperature, log_T0 = ln 10
    W = softmax(A / T_e, dim=classes)                            # (C, K)  each channel spreads one unit over K
    g = p @ W                                                    # (B, K)  class goodness = the layer's logits
    h = InstanceNorm(y)                                          # what the next layer sees (goodness read before)

A (C, K) starts at the constant 0.5, so W starts uniform, every g_k is equal and the conv gets zero gradient: A
moves first and breaks the symmetry through the data. The layer's local loss on g and W is ffviz/method/losses.py.
(a, b, d) = (0.94, 0.06, 0.05) by default; (0.97, 0.03, 0.03) in the authors' MNIST setting.

With ``assignment="static"`` W is the fixed block one-hot of CwComp/DeeperForward: channel c belongs to class
c // (C/K), scaled by K/C so that g_k is the mean goodness of class k's block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ffviz.method.fast import kernels, layout
from ffviz.method.fast.activation import relu_dropout_goodness
from ffviz.method.fast.dropout import keep_bits, keep_threshold
from ffviz.method.fast.norm import instance_norm

# A layer's convolution runs in bf16 where the CPU has bf16 arithmetic (the trainer says so) and oneDNN's bf16
# kernels are faster: output maps of at least 8x8 (there they take 0.3-0.6 of float32's time; on smaller maps they
# gain nothing or lose) and inputs of at least 8 channels (the first layer, on the images themselves, gains nothing
# either). Training and evaluation alike, as bf16 autocast does on CUDA.
BF16_MIN_MAP = 64
BF16_MIN_IN = 8


@dataclass(frozen=True)
class GoodnessSpec:
    """How a layer pools goodness, sets its assignment temperature and starts its assignment (all from RunConfig)."""

    mean: float = 0.94
    max: float = 0.06
    min: float = 0.05
    temperature: float = 10.0
    temp_decay: float = 0.995
    temp_min: float = 0.1
    temp_max: float = 100.0
    # Where A starts (RunConfig's "assignment start" fields): the paper's constant 0.5 unless one of these departs.
    init_noise: float = 0.0  # std of Gaussian noise on A/T0
    init_partition: float = 0.0  # logits (A/T0) added to each channel's own static-block class
    learn_temperature: bool = True


def temperature_of(log_t: torch.Tensor, factor: torch.Tensor, spec: GoodnessSpec) -> torch.Tensor:
    """T_e = clamp(exp(log T), min, max) * decay^epoch: () for one layer, (L,) for a stack of layers' log T."""
    return log_t.exp().clamp(spec.temp_min, spec.temp_max) * factor


def assignment_of(a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """W = softmax(A / T_e) over the classes: a (C, K) with t () or (C, 1), each row one unit spread over K."""
    return F.softmax(a / t, dim=1)


def pooled_goodness(y: torch.Tensor, spec: GoodnessSpec) -> torch.Tensor:
    """(B, C, H, W) -> (B, C): a*mean + b*max - d*min over the spatial positions."""
    return spec.mean * y.mean(dim=(2, 3)) + spec.max * y.amax(dim=(2, 3)) - spec.min * y.amin(dim=(2, 3))


def initial_a(channels: int, num_classes: int, spec: GoodnessSpec) -> torch.Tensor:
    """A (C, K) at the start: the paper's constant 0.5, plus the departures the spec asks for, both in units of W's
    logits A/T0 so that their effect on W does not depend on T0 (noise from torch's global RNG, seeded by the
    trainer)."""
    a = torch.full((channels, num_classes), 0.5)
    if spec.init_partition:
        a += spec.temperature * spec.init_partition * (static_assignment(channels, num_classes) > 0)
    if spec.init_noise:
        a += spec.temperature * spec.init_noise * torch.randn(channels, num_classes)
    return a


def static_assignment(channels: int, num_classes: int) -> torch.Tensor:
    """(C, K) block one-hot scaled by K/C: contiguous blocks of C/K channels per class."""
    if channels % num_classes:
        raise ValueError(f"a layer of {channels} channels cannot be split evenly among {num_classes} classes")
    per = channels // num_classes
    w = torch.zeros(channels, num_classes)
    w[torch.arange(channels), torch.arange(channels) // per] = num_classes / channels
    return w


class CAWConv(nn.Module):
    """One CAW-Conv layer: the module docstring's maths; its local loss on (g, W) is ffviz.method.losses.ff_loss."""

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
        # The trainer turns this on for CPU runs whose compiled kernels are ready (ffviz.method.fast.kernels).
        self.fused = False
        self.bf16 = False
        self._coef: dict[float, tuple[torch.Tensor, torch.Tensor]] = {}  # keep scale -> (coef, threshold)
        if learnable:
            # The paper's constant init: at step 0 every class gets the same goodness, so the conv gets zero gradient
            # and A must break the symmetry first, through the data (initial_a: the labelled departures from it).
            self.A = nn.Parameter(initial_a(out_channels, num_classes, spec))
            # A fixed temperature is log T without a gradient: AdamW skips it, a checkpoint still holds it.
            self.log_T = nn.Parameter(torch.tensor(math.log(spec.temperature)), requires_grad=spec.learn_temperature)
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
        return temperature_of(self.log_T, self.temp_factor, self.spec)

    def assignment(self) -> torch.Tensor:
        """(C, K) channel -> class weights; rows sum to one (learnable) or K/C (static)."""
        if not self.learnable:
            return self.W_static
        return assignment_of(self.A, self.temperature())

    def forward(self, x: torch.Tensor, *, detach_input: bool = True, w: torch.Tensor | None = None,
                bits: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, Cin, H, W) -> (h (B, C, H', W') for the next layer, g (B, K), p (B, C), W (C, K)).

        ``w``: this layer's assignment when the caller computed it already (`FFNet.assignments` does all layers at
        once); otherwise it is computed here.
        """
        if detach_input:
            x = x.detach()  # Forward-Forward: no gradient ever crosses into the previous layer
        w = self.assignment() if w is None else w  # (C, K)
        if (self.fused and detach_input and x.device.type == "cpu" and kernels.kernels() is not None
                and (self.generator is not None or not self.training or self.dropout == 0)):
            p, h = self._fused(x, bits)
        else:
            # (B, C, H', W') Conv3x3, channels-last inside on the CPU (ffviz.method.fast.layout)
            z = layout.conv(self.conv, x)
            # y = Dropout(ReLU(z)) and p = pooled_goodness(y), in one op with a hand-written backward
            y, p = relu_dropout_goodness(z, self.dropout if self.training else 0.0, self.generator, self.spec)
            # h = InstanceNorm(y), after the goodness. In FF modes it carries no gradient (the next layer detaches
            # its input), so it runs without autograd (ffviz.method.fast.norm).
            h = instance_norm(y.detach() if detach_input else y)
        with torch.autocast(p.device.type, enabled=False):
            # float32: under bf16, g (the logits) would keep about 3 significant digits, too few to tell the classes
            # apart while W is nearly uniform (bf16 training then fails to learn)
            g = p @ w.to(p.dtype)  # (B, K)
        return h, g, p, w

    def _fused(self, x: torch.Tensor, bits: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The same y, p and h from the compiled CPU kernels: the conv stays channels-last in and out, and h comes
        out channels-last for the next conv (ffviz.method.fast.kernels). ``bits``: this layer's dropout bits when
        the network drew every layer's at once (ffviz.method.fast.dropout.layers_bits), else drawn here."""
        if self.conv.weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        stride = self.conv.stride[0]
        if (self.bf16 and self.conv.in_channels >= BF16_MIN_IN
                and (x.shape[2] // stride) * (x.shape[3] // stride) >= BF16_MIN_MAP):
            # bf16 in, float32 accumulation in oneDNN, bf16 out; the weight's gradient comes back float32
            z = F.conv2d(x.to(torch.bfloat16), self.conv.weight.to(torch.bfloat16), stride=stride, padding=1)
        else:
            z = self.conv(x.float())
        threshold, scale = 0, 1.0
        if self.training and self.dropout > 0 and self.generator is not None:
            threshold, scale = keep_threshold(self.dropout)
            if bits is None:
                bits = keep_bits(z, self.dropout, self.generator)[0].to(torch.int32)  # the kernel compares int32
        else:
            bits = None
        consts = self._coef.get(scale)
        if consts is None:  # made once: coef in float32 whatever z's dtype (the kernels' statistics are float32)
            consts = self._coef[scale] = (torch.tensor([self.spec.mean, self.spec.max, self.spec.min, scale]),
                                          torch.tensor(threshold, dtype=torch.int32))
        return kernels.activate_pool_norm(z, bits, consts[1], consts[0])
