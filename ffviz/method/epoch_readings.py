"""What a run reads off its network after each epoch: validation goodness and accuracy, the layer contributions
alpha, each layer's W and temperature, and the probe images' goodness (the EpochRecord's validation fields and the
Snapshot). The trainer times it and adds the training statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ffviz.data import DataSplits
from ffviz.method.evaluate import layer_cross_entropy, split_metrics
from ffviz.method.losses import layer_contributions
from ffviz.method.model import FFNet
from ffviz.records import Snapshot


@dataclass
class EpochReadings:
    alpha: torch.Tensor  # (L,) the layer contributions after this epoch
    fields: dict[str, Any]  # the EpochRecord's fields read from validation and from W
    snapshot: Snapshot


def row_entropy(w: torch.Tensor) -> float:
    """Mean over channels of the entropy of W's row (normalised to sum 1), over ln K: 1 = uniform, 0 = hard."""
    k = w.shape[1]
    if k < 2 or w.isnan().any():
        return float("nan")
    rows = w / w.sum(1, keepdim=True).clamp_min(1e-12)
    return (-(rows * rows.clamp_min(1e-12).log()).sum(1).mean() / np.log(k)).item()


@torch.no_grad()
def read_epoch(model: FFNet, data: DataSplits, cfg, goodness: Callable[..., Any], alpha: torch.Tensor, *,
               epoch: int, train_ce: list[float] | None) -> EpochReadings:
    """``goodness(x, probe=n)``: every layer's class goodness on x (ffviz.method.evaluate.collect_goodness). With the
    epoch's training cross-entropy (None: no training happened), alpha = softmax(-CE / tau) is updated first, from
    the training or the validation CE as cfg.contribution_signal says."""
    probe = min(cfg.probe_size, len(data.val_y))
    lg = goodness(data.val_x, probe=probe)
    val_y = data.val_y.cpu()
    ce_val = layer_cross_entropy(lg.g, val_y, label_smoothing=cfg.label_smoothing)  # once: alpha and the record
    fixed = getattr(model, "fixed_alpha", None)  # original FF: Hinton's evaluation, fixed layer weights
    if fixed is not None:
        alpha = fixed.cpu()
    elif train_ce is not None:
        signal = train_ce if cfg.contribution_signal == "train" else ce_val
        alpha = layer_contributions(torch.tensor(signal), cfg.contribution_tau)
    m = split_metrics(lg.g, val_y, alpha, label_smoothing=cfg.label_smoothing, layer_ce=ce_val)
    ws = [layer.assignment().detach().float().cpu() for layer in model.layers]
    fields = dict(
        temperature=[layer.temperature().item() for layer in model.layers], val_ce=ce_val, val_acc=m.layer_acc,
        alpha=alpha.tolist(), acc_alpha=m.acc_alpha, acc_sum=m.acc_sum, acc_last=m.acc_last,
        acc_best_layer=m.acc_best_layer, best_layer=m.best_layer, good_true=m.good_true, good_wrong=m.good_wrong,
        w_sharpness=[w.max(1).values.mean().item() for w in ws], w_entropy=[row_entropy(w) for w in ws],
        channels_per_class=[torch.bincount(w.argmax(1), minlength=data.num_classes).tolist()
                            if not w.isnan().all() else [0] * data.num_classes for w in ws])  # NaN W: none (orig. FF)
    snapshot = Snapshot(epoch=epoch, w=[w.numpy() for w in ws], probe_index=np.arange(probe),
                        probe_y=val_y[:probe].numpy(), probe_g=[g[:probe].numpy() for g in lg.g],
                        probe_p=[p.numpy() for p in lg.probe_p], val_pred=m.pred_alpha.numpy(), val_y=val_y.numpy())
    return EpochReadings(alpha=alpha, fields=fields, snapshot=snapshot)
