"""A training step's forward and loss, in its two forms, and an epoch's running sums of the loss's statistics.

    stats = fused_loss(model, x, y, lambdas, cfg, ff=True)   # all layers forward, ff_loss; then stats.loss.backward()
    stats = lean_backward(model, x, y, lambdas, cfg)         # each layer's loss_l, backward right after its forward

Both call the one loss, ffviz.method.losses.ff_loss; the trainer adds per-layer clipping and the optimizer step
(nanoGPT's
step: zero_grad, loss, backward, clip, step). ``lambdas`` (R,) are the regularizers' weights in the registry's order,
a device tensor so that a captured CUDA graph or a compiled step reads new values without recapturing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch

from ffviz.method.distributed import DistContext, all_reduce_sum
from ffviz.method.losses import LossStats, ff_loss, regularizer_terms, weighted_terms
from ffviz.method.model import FFNet


def fused_loss(model: FFNet, x: torch.Tensor, y: torch.Tensor, lambdas: torch.Tensor, cfg, *, ff: bool = True,
               autocast: Callable[[], AbstractContextManager] = nullcontext) -> LossStats:
    """Forward all layers on x (B, C, H, W) and return ff_loss of their class goodness; no backward yet.

    Forward-Forward (ff=True): every layer's input is detached, so one backward of the summed loss gives each layer
    exactly the gradient of its own loss_l. Backprop (ff=False): nothing is detached and the last layer's
    cross-entropy trains the whole network.
    """
    assign = model.assignments()  # tiny: float32, outside autocast
    terms = regularizer_terms(assign.padded, assign.channels, cfg)
    with autocast():
        g = torch.stack([out.g for out in model.layers_forward(x, detach=ff, ws=assign.w)])  # (L, B, K)
    return ff_loss(g, y, terms, lambdas, label_smoothing=cfg.label_smoothing, local=ff)


def lean_backward(model: FFNet, x: torch.Tensor, y: torch.Tensor, lambdas: torch.Tensor, cfg, *,
                  autocast: Callable[[], AbstractContextManager] = nullcontext) -> LossStats:
    """The memory-lean Forward-Forward step: each layer's cross-entropy (ff_loss of that layer alone) and its
    backward right after its own forward, so only one layer's activations are alive at a time; then the
    regularizers. Same gradients as fused_loss.

    All layers' W come from one small shared graph: the layers' backwards leave the gradients of W in detached
    copies, and one last backward carries them, with the regularizers' own, to A and log T.
    """
    assign = model.assignments()
    terms = regularizer_terms(assign.padded, assign.channels, cfg)
    w_leaves = [w.detach().requires_grad_(w.requires_grad) for w in assign.w]
    parts = []
    with autocast():
        for out in model.layers_forward(x, detach=True, ws=w_leaves):
            part = ff_loss(out.g[None], y, {}, lambdas, label_smoothing=cfg.label_smoothing)  # CE_l alone
            part.loss.backward()  # frees this layer's graph before the next layer runs
            parts.append(part)
    reg = weighted_terms(terms, lambdas)  # (L,)
    if assign.padded is not None:  # learnable W: carry the collected gradients and the regularizers' to A and log T
        grads = [leaf.grad if leaf.grad is not None else torch.zeros_like(leaf) for leaf in w_leaves]
        torch.autograd.backward([reg.sum(), *assign.w], [torch.ones_like(reg[0]), *grads])
    ce = torch.cat([p.ce.detach() for p in parts])
    # the loss that was minimised, Σ_l loss_l, summed as ff_loss sums it
    return LossStats(loss=ce.sum() + reg.detach().sum(), ce=ce, terms={k: t.detach() for k, t in terms.items()},
                     correct=torch.cat([p.correct for p in parts]))


# The EpochRecord's fields of an epoch's training (None for the untrained network at epoch 0).
TRAIN_FIELDS = ("train_loss", "train_ce", "train_terms", "train_terms_w", "train_acc", "images_per_sec",
                "epoch_seconds")


class EpochSums:
    """An epoch's statistics summed over its batches (each batch weighted by its size), then averaged."""

    def __init__(self, num_layers: int, names: list[str], device: torch.device) -> None:
        self.names = names
        self.loss = torch.zeros((), device=device)
        self.ce = torch.zeros(num_layers, device=device)
        self.terms = torch.zeros(len(names), num_layers, device=device)  # (R, L) in the order of names
        self.correct = torch.zeros(num_layers, device=device)
        self.seen = 0

    def add(self, stats: LossStats, n: int) -> None:
        self.loss += stats.loss * n
        self.ce += stats.ce * n
        for i, name in enumerate(self.names):
            self.terms[i] += stats.terms[name] * n
        self.correct += stats.correct
        self.seen += n

    def all_reduce(self, ctx: DistContext | None) -> None:
        """Sum over every rank's batches (a no-op in a single-process run)."""
        if ctx is None:
            return
        flat = torch.cat([self.loss[None], self.ce, self.terms.flatten(), self.correct,
                          self.ce.new_tensor([self.seen])])
        flat = all_reduce_sum(flat, ctx)
        num_layers = len(self.ce)
        self.loss, self.ce = flat[0], flat[1:1 + num_layers]
        self.terms = flat[1 + num_layers:-1 - num_layers].view(len(self.names), num_layers)
        self.correct, self.seen = flat[-1 - num_layers:-1], int(flat[-1].item())

    def record_fields(self, lambdas: dict[str, float], seconds: float) -> dict:
        """The EpochRecord's training fields (TRAIN_FIELDS): means over the epoch's images, per layer; each term raw
        and as weighted in the loss (``lambdas``: name -> its weight this epoch)."""
        seen = max(self.seen, 1)
        raw = (self.terms / seen).cpu()
        terms = {name: raw[i].tolist() for i, name in enumerate(self.names)}
        return {"train_loss": (self.loss / seen).item(), "train_ce": (self.ce / seen).cpu().tolist(),
                "train_terms": terms, "train_terms_w": {k: [lambdas[k] * v for v in t] for k, t in terms.items()},
                "train_acc": (100 * (self.correct / seen)).cpu().tolist(), "epoch_seconds": seconds,
                "images_per_sec": self.seen / seconds if seconds > 0 else None}
