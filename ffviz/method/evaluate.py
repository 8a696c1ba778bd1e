"""Evaluation without gradients: every layer's class goodness on a split, and the ensembles built from them.

Every evaluation reports four readings of the same network: the alpha-weighted ensemble (the method's prediction),
the plain sum over layers, the last layer alone, and each layer on its own.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ffviz.method.model import FFNet


@dataclass
class LayerGoodness:
    g: torch.Tensor  # (L, N, K) class goodness of every layer, float32 on the CPU
    probe_p: list[torch.Tensor]  # per layer (P, C) pooled channel goodness of the first P images


@torch.no_grad()
def collect_goodness(model: FFNet, x: torch.Tensor, *, batch_size: int, device: torch.device,
                     probe: int = 0, autocast: bool = False, channels_last: bool = False) -> LayerGoodness:
    """Run the network in eval mode over x (N, C, H, W) in large batches and gather every layer's outputs."""
    was_training = model.training
    model.eval()
    gs: list[list[torch.Tensor]] = [[] for _ in range(model.num_layers)]
    ps: list[list[torch.Tensor]] = [[] for _ in range(model.num_layers)]
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if autocast else nullcontext()
    try:
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size].to(device, non_blocking=True)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with ctx:
                for out in model.layers_forward(xb):
                    gs[out.index].append(out.g.float())
                    if start < probe:
                        ps[out.index].append(out.p[: probe - start].float())
    finally:
        model.train(was_training)
    g = torch.stack([torch.cat(chunks) for chunks in gs]).cpu()
    probe_p = [torch.cat(chunks).cpu() if chunks else torch.empty(0) for chunks in ps]
    return LayerGoodness(g=g, probe_p=probe_p)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Percent of rows whose argmax is the label; (N, K), (N,) -> float."""
    return 100.0 * (logits.argmax(-1) == y).float().mean().item() if len(y) else float("nan")


def ensemble_logits(g: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """(L, N, K), (L,) -> (N, K): sum_l alpha_l * g_l."""
    return torch.einsum("l,lnk->nk", alpha.to(g.dtype), g)


@dataclass
class SplitMetrics:
    layer_acc: list[float]
    layer_ce: list[float]
    acc_alpha: float
    acc_sum: float
    acc_last: float
    best_layer: int
    acc_best_layer: float
    good_true: list[float]
    good_wrong: list[float]
    pred_alpha: torch.Tensor  # (N,)


def layer_cross_entropy(g: torch.Tensor, y: torch.Tensor, *, label_smoothing: float = 0.0) -> list[float]:
    """Each layer's cross-entropy on a split: (L, N, K) goodness, (N,) labels -> L floats."""
    return [F.cross_entropy(gl, y, label_smoothing=label_smoothing).item() for gl in g]


def split_metrics(g: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor, *, label_smoothing: float = 0.0,
                  best_layer: int | None = None, layer_ce: list[float] | None = None) -> SplitMetrics:
    """All readings of one split from its (L, N, K) goodness. ``best_layer`` fixes the layer to report (chosen on
    validation) instead of picking the best on this split; ``layer_ce``: `layer_cross_entropy` already computed."""
    layer_acc = [accuracy(gl, y) for gl in g]
    if layer_ce is None:
        layer_ce = layer_cross_entropy(g, y, label_smoothing=label_smoothing)
    ens = ensemble_logits(g, alpha)
    if best_layer is None:
        best_layer = max(range(len(layer_acc)), key=lambda i: layer_acc[i])
    true = g.gather(2, y.view(1, -1, 1).expand(g.shape[0], -1, 1)).squeeze(2)  # (L, N)
    wrong = g.scatter(2, y.view(1, -1, 1).expand(g.shape[0], -1, 1), float("-inf")).amax(2)  # (L, N)
    return SplitMetrics(layer_acc=layer_acc, layer_ce=layer_ce, acc_alpha=accuracy(ens, y),
                        acc_sum=accuracy(g.sum(0), y), acc_last=layer_acc[-1], best_layer=best_layer,
                        acc_best_layer=layer_acc[best_layer], good_true=true.mean(1).tolist(),
                        good_wrong=wrong.mean(1).tolist(), pred_alpha=ens.argmax(-1))
