"""Hinton's original Forward-Forward (2022): where the lineage starts. ``--mode original-ff``.

    python -m ffviz train --recipe classroom --mode original-ff

Each layer is a fully connected ReLU layer with its own local objective; no gradient crosses layers.

    x⁺ = [flatten(LayerNorm(image)), s·onehot(y)]          # (B, D + K) positive: the true label embedded
    x⁻ = [flatten(LayerNorm(image)), s·onehot(y')]         # (B, D + K) negative: a wrong label y' ≠ y, drawn at random
    h_l = ReLU(Linear_l(n_{l-1}))                           # (B, H_l)   n_0 = x, the input of layer 0
    G_l = mean_j h_l,j²                                     # (B,)       goodness: mean of squared activations
    loss_l = softplus(θ − G_l(x⁺)) + softplus(G_l(x⁻) − θ)  # logistic: p(positive) = sigmoid(G − θ)
    n_l = h_l / rms(h_l)                                    # length-normalised (to unit RMS): the next layer cannot
                                                            # read the goodness off the length of its input
    predict(image) = argmax_k Σ_{l ∈ counted} G_l(image with label k embedded)   # K forward passes

Which network, and why: an MLP, as in Hinton's paper, not the conv stack. Hinton's supervised FF embeds the label in
the input and compares whole-layer goodness; in a conv stack the embedded label (extra constant input channels) has to
reach every position through 3x3 kernels and the per-layer InstanceNorm, which is a different method from the one the
paper measured (its MNIST 98.69 is an MLP; its CIFAR-10 59.0 a locally connected net). The MLP is the honest start
of the lineage, and it is what a class can follow: one vector per layer, one number (its goodness) per label.
The MLP has one layer per stage of the preset, ``HIDDEN_PER_CHANNEL`` units per conv channel of that stage
(classroom (20, 40) -> 200, 400 units); the shape does not follow the conv stack's 1 + 4*S layers.

Embedding: the one-hot label is appended as K extra inputs, scaled by ``LABEL_SCALE``. Hinton overwrote the first 10
of MNIST's 784 pixels (a blank border); on 8x8 digits 10 of 64 pixels would cut into the digit itself.

What it records, in the run records every mode writes: per layer, the logistic loss (as ``train_ce`` / ``ce``: the
loss that layer minimised), the class goodness g_l,k = G_l(image, k) (``val_ce`` is the cross-entropy of those as
logits: a reading, not trained on), each layer's accuracy (argmax_k g_l,k), and the ensemble: ``alpha`` is fixed,
uniform over the counted layers and 0 on the others, so ``acc_alpha`` is Hinton's prediction; ``acc_sum`` sums all
layers. There is no assignment W: ``assignment()`` is NaN, ``temperature()`` NaN, no regularizer acts (their terms
are recorded as 0).

Its own hyperparameters are module constants, chosen on the digits' VALIDATION split with the classroom recipe by
bench/lineage_tune_ff.py (32 settings: θ in 0.5/1/2/4, label scale 1/3, learning rate x0.25/x1, first layer counted
or not; results in bench/results/lineage_tune_ff.json): θ = 4, label scale 1, the config's own ``lr`` (AdamW, as the
other modes), and every layer counts (with the classroom preset's two layers, skipping the first as Hinton did leaves
one layer, which was worse on validation). Dropout, goodness pooling and the assignment settings do not apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ffviz.method.model.network import Assignments, LayerOut

THETA = 4.0  # goodness threshold θ of the logistic loss (goodness = mean of squared activations)
LABEL_SCALE = 1.0  # the embedded one-hot's value, against the LayerNorm'd pixels (unit RMS)
HIDDEN_PER_CHANNEL = 10  # units per conv channel of the preset's stage
SKIP_FIRST = False  # Hinton's evaluation skipped the first layer; on the classroom preset's 2 layers that is worse


def goodness(h: torch.Tensor) -> torch.Tensor:
    """(B, H) activations -> (B,) goodness, the mean of the squares."""
    return h.pow(2).mean(1)


def ff_layer_loss(g_pos: torch.Tensor, g_neg: torch.Tensor, theta: float | None = None) -> torch.Tensor:
    """The logistic loss of one layer: (B,), (B,) goodness of positive and negative data -> () mean over the batch.

    -log sigmoid(G⁺ − θ) − log(1 − sigmoid(G⁻ − θ)) = softplus(θ − G⁺) + softplus(G⁻ − θ). θ: THETA when None.
    """
    theta = THETA if theta is None else theta
    return (F.softplus(theta - g_pos) + F.softplus(g_neg - theta)).mean()


def normalise(h: torch.Tensor) -> torch.Tensor:
    """(B, H) -> (B, H) with unit RMS per row (unit length up to sqrt(H)), so goodness cannot pass to the next layer."""
    return h / (h.pow(2).mean(1, keepdim=True).sqrt() + 1e-4)


def wrong_labels(y: torch.Tensor, num_classes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B,) a label ≠ y for each row, uniformly among the K − 1 others."""
    shift = torch.randint(1, num_classes, y.shape, device=y.device, generator=generator)
    return (y + shift) % num_classes


class FFLinear(nn.Module):
    """One Forward-Forward layer: ReLU(Linear(x)) with no gradient into x. Has no assignment W."""

    learnable = False

    def __init__(self, in_features: int, out_features: int, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.num_classes = num_classes
        self.out_channels = out_features

    def set_epoch(self, epoch: int) -> None:
        """Nothing depends on the epoch."""

    def temperature(self) -> torch.Tensor:
        return torch.tensor(float("nan"))

    def assignment(self) -> torch.Tensor:
        """No W in original FF: a NaN (C, K) placeholder the records and pages recognise."""
        return torch.full((self.out_channels, self.num_classes), float("nan"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.linear(x.detach()))


class OriginalFFNet(nn.Module):
    """Hinton's supervised Forward-Forward MLP, with the interface of FFNet that the trainer and the readings use."""

    has_assignment = False

    def __init__(self, *, in_features: int, num_classes: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("original-ff needs at least one hidden layer")
        self.num_classes = num_classes
        self.in_features = in_features
        self.widths = tuple(hidden)
        sizes = [in_features + num_classes, *hidden]
        self.layers = nn.ModuleList(FFLinear(a, b, num_classes) for a, b in zip(sizes, sizes[1:], strict=False))
        counted = [0.0 if (SKIP_FIRST and i == 0 and len(hidden) > 1) else 1.0 for i in range(len(hidden))]
        total = sum(counted)
        # Hinton's evaluation as the layer weights: the ensemble argmax_k Σ_l alpha_l g_l,k is his prediction.
        self.register_buffer("fixed_alpha", torch.tensor([c / total for c in counted]), persistent=False)
        self.generator: torch.Generator | None = None

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def set_epoch(self, epoch: int) -> None:
        """Nothing depends on the epoch."""

    def set_generator(self, generator: torch.Generator | None) -> None:
        """Draw the negative labels from ``generator``."""
        self.generator = generator

    def assignments(self) -> Assignments:
        ws = [layer.assignment() for layer in self.layers]
        return Assignments(w=ws, padded=None, channels=torch.tensor([w.shape[0] for w in ws]))

    def embed(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W), labels (B,) -> (B, D + K): LayerNorm'd pixels with the scaled one-hot label appended."""
        flat = F.layer_norm(x.flatten(1).float(), (self.in_features,))
        onehot = F.one_hot(labels, self.num_classes).to(flat.dtype) * LABEL_SCALE
        return torch.cat([flat, onehot], dim=1)

    def layer_goodness(self, z: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """For an embedded input z (N, D + K): each layer's (activations (N, H_l), goodness (N,)), in order."""
        for layer in self.layers:
            h = layer(z)
            yield h, goodness(h)
            z = normalise(h)

    def class_goodness(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per layer (B, K): G_l(x with label k embedded), the K forward passes of Hinton's evaluation, as one batch."""
        b, k = x.shape[0], self.num_classes
        labels = torch.arange(k, device=x.device).repeat_interleave(b)  # (K*B,) label k for copy k
        z = self.embed(x.repeat(k, *([1] * (x.dim() - 1))), labels)  # (K*B, D+K)
        return [g.view(k, b).T for _, g in self.layer_goodness(z)]

    def layers_forward(self, x: torch.Tensor, *, detach: bool = True,
                       ws: list[torch.Tensor] | None = None) -> Iterator[LayerOut]:
        """Every layer's class goodness g (B, K) and, as its "channel goodness" p (B, H_l), the squared activations
        with a neutral label (1/K on every class) embedded."""
        gs = self.class_goodness(x)
        neutral = F.layer_norm(x.flatten(1).float(), (self.in_features,))
        z = torch.cat([neutral, neutral.new_full((x.shape[0], self.num_classes), LABEL_SCALE / self.num_classes)], 1)
        for i, ((h, _), g) in enumerate(zip(self.layer_goodness(z), gs, strict=True)):
            yield LayerOut(i, g, h.pow(2), self.layers[i].assignment())

    def forward(self, x: torch.Tensor, **_: object) -> list[LayerOut]:
        return list(self.layers_forward(x))

    def loss(self, x: torch.Tensor, y: torch.Tensor, *, theta: float | None = None):
        """The training step's loss: Σ_l loss_l on positive and negative data, each layer's accuracy (argmax over
        the K labels, without gradient) and no regularizer terms. -> ffviz.method.losses.LossStats."""
        from ffviz.method.losses import LossStats
        from ffviz.regularizers import REGULARIZERS

        b = x.shape[0]
        z = torch.cat([self.embed(x, y), self.embed(x, wrong_labels(y, self.num_classes, self.generator))])
        losses = torch.stack([ff_layer_loss(g[:b], g[b:], theta) for _, g in self.layer_goodness(z)])  # (L,)
        with torch.no_grad():
            correct = torch.stack([(g.argmax(1) == y).sum() for g in self.class_goodness(x)]).float()
        zeros = losses.detach().new_zeros(self.num_layers)
        return LossStats(loss=losses.sum(), ce=losses, terms={name: zeros for name in REGULARIZERS}, correct=correct)


def hidden_sizes(widths: tuple[int, ...]) -> tuple[int, ...]:
    """The MLP's layer widths for a preset's stage widths."""
    return tuple(HIDDEN_PER_CHANNEL * w for w in widths)


def parameter_count(*, in_features: int, num_classes: int, widths: tuple[int, ...]) -> int:
    """Parameters of the MLP, by arithmetic (ffviz.server.limits)."""
    sizes = [in_features + num_classes, *hidden_sizes(widths)]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))


def build_mlp(cfg: Any, *, in_channels: int, num_classes: int, image_size: int,
              widths: tuple[int, ...]) -> OriginalFFNet:
    """The MLP of the original-ff mode for a preset's stage widths (its builder in ffviz/modes.py)."""
    return OriginalFFNet(in_features=in_channels * image_size * image_size, num_classes=num_classes,
                         hidden=hidden_sizes(widths))


def mlp_parameters(*, in_channels: int, num_classes: int, image_size: int, widths: tuple[int, ...]) -> int:
    """``parameter_count`` as the mode registry calls it (the server's limits)."""
    return parameter_count(in_features=in_channels * image_size * image_size, num_classes=num_classes, widths=widths)
