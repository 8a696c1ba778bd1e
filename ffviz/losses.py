"""The local loss of a CAW-Conv layer and its two regularizers on the assignment W (C, K).

    loss_l = CE(g_l, y, label_smoothing) + lambda_ent * H(W_l) + lambda_orth * warmup(epoch) * O(W_l)
"""

from __future__ import annotations

import torch

ENTROPY_EPS = 1e-10


def entropy_penalty(w: torch.Tensor) -> torch.Tensor:
    """mean over classes k of -sum_c W_ck log(W_ck + eps).

    Columns of W do not sum to one (rows do), so this is an element-wise -w log w penalty that pushes each channel
    towards a confident assignment, not the entropy of a distribution.
    """
    return -(w * torch.log(w + ENTROPY_EPS)).sum(dim=0).mean()


def gram_matrix(w: torch.Tensor) -> torch.Tensor:
    """(K, K) cosine similarities of W's class columns: W_hat^T W_hat with unit-length columns."""
    w_hat = w / (w.norm(dim=0, keepdim=True) + ENTROPY_EPS)
    return w_hat.T @ w_hat


def orthogonality_penalty(w: torch.Tensor, scaling: str = "mean") -> torch.Tensor:
    """mean((G - I)^2); with scaling="authors" also divided by K^2 * C, as the authors' code does."""
    c, k = w.shape
    g = gram_matrix(w)
    out = ((g - torch.eye(k, device=w.device, dtype=g.dtype)) ** 2).mean()
    if scaling == "authors":
        return out / (k * k * c)
    if scaling != "mean":
        raise ValueError(f"orth_scaling={scaling!r} is not valid; choose one of mean, authors")
    return out


def orth_warmup(epoch: int, warmup_epochs: int) -> float:
    """Linear warm-up factor min(1, epoch / warmup) of the orthogonality weight (epoch counted from 0)."""
    return 1.0 if warmup_epochs <= 0 else min(1.0, epoch / warmup_epochs)


def layer_contributions(losses: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """alpha = softmax(-L / tau) over layers: layers with lower loss count more in the ensemble."""
    return torch.softmax(-losses / tau, dim=0)
