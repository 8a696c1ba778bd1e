"""Per-layer gradient clipping with one norm call for the whole network.

Plain form: ``torch.nn.utils.clip_grad_norm_(layer.parameters(), max_norm)`` for each layer in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def clip_per_layer(layer_params: Sequence[Sequence[torch.Tensor]], max_norm: float,
                   const: Callable[[tuple, torch.dtype], torch.Tensor]) -> None:
    """Scale each layer's gradients by min(1, max_norm / (‖g_l‖ + 1e-6)), ‖g_l‖ the norm of all its gradients.

    ``const(values, dtype)``: a device tensor of values, cached (the trainer's), so a CUDA graph can replay it.
    """
    grads, owner = [], []
    for i, params in enumerate(layer_params):
        for p in params:
            if p.grad is not None:
                grads.append(p.grad)
                owner.append(i)
    if not grads:
        return
    owner_t = const(tuple(owner), torch.long)
    sq = torch.stack(torch._foreach_norm(grads)).square()  # (P,)
    norms = torch.zeros(len(layer_params), device=sq.device, dtype=sq.dtype).index_add_(0, owner_t, sq)
    coef = (max_norm / (norms.sqrt() + 1e-6)).clamp_(max=1.0)  # (L,)
    torch._foreach_mul_(grads, list(coef[owner_t].unbind()))
