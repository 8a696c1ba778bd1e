"""The Forward-Forward loss: every layer's local loss, summed. Read with ffviz/method/model/layer.py, this is the
method.

For L layers, a batch of B images with labels y and K classes, layer l's class goodness g_l (B, K) (its logits,
see CAWConv) and its assignment W_l (C_l, K):

    loss_l = CE(g_l, y, label_smoothing=0.1)                                    # classes compete: no negative data
             + λ_entropy · H(W_l)                                               # sharp: each channel picks classes
             + λ_orth · min(1, epoch / warm-up) · O(W_l)                        # distinct: classes share no channels
    loss   = Σ_l loss_l

    H(W) = mean_k ( -Σ_c W_ck · log(W_ck + 1e-10) )
    O(W) = mean( (Ŵᵀ Ŵ - I)² ),  Ŵ = W with unit-length class columns          # (K, K); "authors" scaling: / (K²·C)

Each layer's input is detached (CAWConv), so the one backward of the sum gives every layer exactly the gradient of
its own loss_l; each layer then takes its own AdamW step, its gradient clipped to norm 1 per layer (the trainer).
The regularizers are a registry (ffviz.regularizers: one function and one entry per term, the weight's RunConfig
field and its schedule); the static baseline has no A and no regularizers; in backprop mode the network's loss is
the last layer's cross-entropy plus the regularizers.

After an epoch, the layers' contributions to the prediction are alpha = softmax_l(-L̄_l / tau), L̄_l a layer's mean
cross-entropy (`layer_contributions`); the prediction is argmax_k Σ_l alpha_l · g_l,k.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ffviz.regularizers import REGULARIZERS, entropy, orth_warmup, orthogonality, penalties

__all__ = ["LossStats", "entropy_penalty", "ff_loss", "layer_contributions", "orth_warmup", "orthogonality_penalty",
           "regularizer_terms", "weighted_terms"]


@dataclass
class LossStats:
    """What a training step minimised, and its parts, named."""

    loss: torch.Tensor  # () the sum that the backward minimises
    ce: torch.Tensor  # (L,) each layer's label-smoothed cross-entropy
    terms: dict[str, torch.Tensor]  # regularizer name -> (L,) its raw value on each layer's W (before λ)
    correct: torch.Tensor  # (L,) images each layer classified right (argmax_k g_l,k == y)

    def detach(self) -> LossStats:
        return LossStats(self.loss.detach(), self.ce.detach(), {k: v.detach() for k, v in self.terms.items()},
                         self.correct.float())


def ff_loss(g: torch.Tensor, y: torch.Tensor, terms: dict[str, torch.Tensor], lambdas: torch.Tensor, *,
            label_smoothing: float, local: bool = True) -> LossStats:
    """The loss of L layers: g (L, B, K) class goodness, y (B,) labels, terms name -> (L,) raw regularizers
    (`regularizer_terms`), lambdas (R,) their weights in the loss, in the order of ``terms``.

    local=True (Forward-Forward): Σ_l CE_l + Σ_l Σ_r λ_r R_r(W_l). local=False (backprop): the last layer's CE is the
    network's loss; the regularizers still shape every layer's W.
    """
    g = g.float()  # logits in float32 even under bf16 autocast
    num_layers, batch, k = g.shape
    # all layers' cross-entropies in one call: (L * B, K) logits against the labels repeated per layer
    labels = y if num_layers == 1 else y.repeat(num_layers)  # (L * B,) the labels once per layer
    ce = F.cross_entropy(g.reshape(num_layers * batch, k), labels, reduction="none",
                         label_smoothing=label_smoothing).view(num_layers, batch).mean(1)  # (L,)
    reg = weighted_terms(terms, lambdas)  # (L,)
    loss = ce.sum() if local else ce[-1]
    if reg is not None:
        loss = loss + reg.sum()
    correct = (g.detach().argmax(2) == y).sum(1)  # (L,)
    return LossStats(loss=loss, ce=ce, terms=terms, correct=correct)


def weighted_terms(terms: dict[str, torch.Tensor], lambdas: torch.Tensor) -> torch.Tensor | None:
    """Σ_r λ_r R_r(W_l): terms name -> (L,), lambdas (R,) in their order -> (L,); None when there are no terms."""
    reg = None
    for i, term in enumerate(terms.values()):
        reg = lambdas[i] * term if reg is None else reg + lambdas[i] * term
    return reg


def regularizer_terms(padded: torch.Tensor | None, channels: torch.Tensor, cfg) -> dict[str, torch.Tensor]:
    """Every registered regularizer on every layer's W at once: padded (L, C_max, K) zero-padded assignments
    (`FFNet.assignments`), channels (L,) each layer's C -> name -> (L,). A static W (padded None) has none: zeros."""
    if padded is None:
        zeros = torch.zeros(len(channels), device=channels.device)
        return dict.fromkeys(REGULARIZERS, zeros)
    return penalties(padded, channels, cfg)


def entropy_penalty(w: torch.Tensor) -> torch.Tensor:
    """H(W) of one layer's W (C, K) -> (); `ffviz.regularizers.entropy`."""
    return entropy(w, w.shape[0])


def orthogonality_penalty(w: torch.Tensor, scaling: str = "mean") -> torch.Tensor:
    """O(W) of one layer's W (C, K) -> (); `ffviz.regularizers.orthogonality`."""
    return orthogonality(w, w.shape[0], orth_scaling=scaling)


def layer_contributions(losses: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """alpha = softmax(-L / tau) over layers (L,): layers with lower loss count more in the ensemble."""
    return torch.softmax(-losses / tau, dim=0)
