"""Small per-step tensors (the regularizers' weights, the clipping's index table) made on the device once.

Plain form: ``torch.tensor(values, device=device)`` at every step, a host-to-device copy each time (a sync on CUDA).
A captured CUDA graph also reads these by address, so they must stay alive and unchanged while it lives.
"""

from __future__ import annotations

import torch


class DeviceConsts:
    """``consts(values, dtype)``: torch.tensor(values) on the device, made once per distinct (values, dtype)."""

    def __init__(self, device: torch.device, max_size: int = 64) -> None:
        self.device, self.max_size = device, max_size
        self.cache: dict[tuple, torch.Tensor] = {}

    def __call__(self, values: tuple, dtype: torch.dtype) -> torch.Tensor:
        key = (values, dtype)
        if key not in self.cache:
            if len(self.cache) > self.max_size:
                self.cache.clear()
            self.cache[key] = torch.tensor(values, dtype=dtype, device=self.device)
        return self.cache[key]
