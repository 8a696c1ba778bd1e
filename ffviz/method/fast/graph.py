"""The whole training step captured once as a CUDA graph, then replayed for every batch of the same shape.

Plain form: calling ``body(x, y, lambdas)`` (the trainer's eager step: forward, ff_loss, backward, per-layer
clipping, AdamW). One replay is one launch instead of ~1,400 operator calls per step, which on a fast GPU take
longer to launch than to run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch

from ffviz.method.losses import LossStats


class GraphedStep:
    """``body`` captured as a CUDA graph; ``run`` copies a batch in and replays it.

    Warm-up steps (cuDNN autotuning, optimizer state) run on a side stream before the capture and are undone, so the
    run's first replay is its true first step. The batch, the regularizer weights and the learning rate are copied
    into tensors the graph reads; dropout masks come from the run's generator, registered with the graph.
    ``consts``: the trainer's cache of small device tensors, which the graph reads by address.
    """

    def __init__(self, body: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], LossStats],
                 optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor], generator: torch.Generator,
                 consts: dict, x: torch.Tensor, y: torch.Tensor, lambdas: torch.Tensor,
                 key: tuple) -> None:
        self.key = key
        device = x.device
        for group in optimizer.param_groups:  # AdamW reads its step counts and learning rate on the GPU
            group["capturable"] = True
            if not torch.is_tensor(group["lr"]):
                group["lr"] = torch.tensor(float(group["lr"]), device=device)
        self.x, self.y, self.lambdas = x.clone(), y.clone(), lambdas.clone()
        saved = [p.detach().clone() for p in params]
        saved_state = {p: {k: v.clone() for k, v in st.items()} for p, st in optimizer.state.items()}
        saved_rng = generator.get_state()
        try:
            side = torch.cuda.Stream(device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                for _ in range(3):
                    optimizer.zero_grad(set_to_none=True)
                    body(self.x, self.y, self.lambdas)
            torch.cuda.current_stream(device).wait_stream(side)
        finally:
            with torch.no_grad():
                for p, v in zip(params, saved, strict=True):
                    p.copy_(v)
                for p, st in optimizer.state.items():
                    for k, v in st.items():
                        v.copy_(saved_state[p][k]) if p in saved_state else v.zero_()  # new state: fresh start
            generator.set_state(saved_rng)
        self.graph = torch.cuda.CUDAGraph()
        self.graph.register_generator_state(generator)
        optimizer.zero_grad(set_to_none=True)  # the graph's backward writes the gradients into its own memory
        with torch.cuda.graph(self.graph):
            self.out = body(self.x, self.y, self.lambdas)
        # the graph reads these by address: keep them alive as long as it lives (the trainer's cache may drop them)
        self._consts = list(consts.values())

    def run(self, x: torch.Tensor, y: torch.Tensor, lambdas: torch.Tensor) -> LossStats:
        """One training step on (x, y); the returned tensors are overwritten by the next step."""
        self.x.copy_(x)
        self.y.copy_(y)
        self.lambdas.copy_(lambdas)
        self.graph.replay()
        return self.out


class StepCapture:
    """Which captured graph serves a batch: captures ``body`` on the first batch (and again when ``key`` changes),
    replays it for every batch of that shape, and answers None for the rest (an epoch's last, smaller batch, or
    everything after a capture failed), which then run eagerly."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.graph: GraphedStep | None = None
        self.error: str | None = None  # why a capture failed (the run then goes on eagerly)

    def step(self, body: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], LossStats], x: torch.Tensor,
             y: torch.Tensor, lambdas: torch.Tensor, *, key: tuple, optimizer: torch.optim.Optimizer,
             params: Sequence[torch.Tensor], generator: torch.Generator, consts: dict) -> LossStats | None:
        key = (tuple(x.shape), *key)
        if self.graph is not None and self.graph.key[0] != key[0]:
            return None
        try:
            if self.graph is None or self.graph.key != key:
                self.graph = None
                self.graph = GraphedStep(body, optimizer, params, generator, consts, x, y, lambdas, key)
            return self.graph.run(x, y, lambdas)
        except Exception as e:  # a capture can fail on an unsupported operation: keep training, eagerly
            self.enabled, self.graph = False, None
            self.error = f"{type(e).__name__}: {e}"
            warnings.warn(f"CUDA graph capture failed, training eagerly: {self.error}", stacklevel=3)
            return None


def eager_optimizer_state(optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer's state dict as an eager step would have it (a captured step's GPU-side learning rate and
    capturable flag are its own business), so a checkpoint loads anywhere."""
    state = optimizer.state_dict()
    for group in state["param_groups"]:
        group["lr"] = float(group["lr"])
        group["capturable"] = False
    return state
