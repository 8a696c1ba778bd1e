"""Training on several processes, GPUs or machines with DistributedDataParallel.

    torchrun --nproc-per-node=2 -m ffviz train --preset classroom --device cpu        # two CPU processes (gloo)
    torchrun --nproc-per-node=8 -m ffviz train --recipe paper-cifar10                 # eight GPUs (NCCL)

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address; `setup` reads them and joins the process
group (gloo on the CPU, NCCL on CUDA, one GPU per process). Without them (a plain ``python -m ffviz``) nothing
changes. What a distributed run does:
- every rank draws the same permutation each epoch (it depends on seed and epoch alone) and takes its own disjoint
  part of every mini-batch, so ``--batch-size`` stays the global batch and the hyperparameters keep their meaning;
- Forward-Forward sums the local losses into one backward, so DDP all-reduces (averages) the gradients during that
  backward exactly as for any network; the memory-lean step, which runs one backward per layer, all-reduces them
  once after its last backward. Every rank then takes the same optimizer step and keeps the same weights;
- the epoch's training statistics are summed over the ranks; validation and test run on every rank over the whole
  split (they are small), and rank 0 alone writes the run folder and prints progress.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a distributed run."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    """WORLD_SIZE as torchrun set it (1 when not under torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: str) -> DistContext | None:
    """Join the process group torchrun describes; None when this is a single-process run.

    ``device`` is the run's device setting: "cpu" uses gloo, anything that resolves to CUDA uses NCCL and binds this
    process to GPU LOCAL_RANK (so the trainer's "cuda" means that GPU).
    """
    if env_world_size() <= 1:
        return None
    rank, world, local = int(os.environ["RANK"]), env_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device in ("cuda", "auto") and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    backend = "nccl" if cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return DistContext(rank=rank, world_size=world, local_rank=local, backend=backend)


def teardown(ctx: DistContext | None) -> None:
    if ctx is not None and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def batch_part(idx: torch.Tensor, ctx: DistContext | None) -> torch.Tensor | None:
    """This rank's disjoint part of a global mini-batch of indices (sizes differ by at most one between ranks).

    None when the batch has fewer samples than there are ranks (a last, tiny batch): every rank skips it, so all
    ranks take the same number of steps.
    """
    if ctx is None:
        return idx
    if len(idx) < ctx.world_size:
        return None
    return torch.tensor_split(idx, ctx.world_size)[ctx.rank]


def all_reduce_sum(t: torch.Tensor, ctx: DistContext | None) -> torch.Tensor:
    """Sum t over the ranks, in place (a no-op in a single-process run)."""
    if ctx is not None:
        dist.all_reduce(t)
    return t


def average_gradients(params: list[torch.Tensor], ctx: DistContext | None) -> None:
    """Average the parameters' gradients over the ranks with one flat all-reduce (the lean step's DDP)."""
    if ctx is None:
        return
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    torch._foreach_copy_(grads, [f.view_as(g) for f, g in zip(flat.split([g.numel() for g in grads]), grads,
                                                                strict=True)])


def weights_digest(model: torch.nn.Module) -> str:
    """A short hash of every parameter and buffer, to check that all ranks ended with the same weights."""
    h = hashlib.sha1()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def report_sync(model: torch.nn.Module, ctx: DistContext | None) -> bool:
    """Every rank prints its weights' digest; rank 0 also says whether all ranks agree. True when they do."""
    if ctx is None:
        return True
    mine = weights_digest(model)
    print(f"ffviz ddp rank {ctx.rank}/{ctx.world_size}: weights {mine}", flush=True)
    digests: list[str | None] = [None] * ctx.world_size
    dist.all_gather_object(digests, mine)
    same = len(set(digests)) == 1
    if ctx.is_main:
        print(f"ffviz ddp: {ctx.world_size} ranks ({ctx.backend}), weights "
              f"{'identical on every rank' if same else 'DIFFER between ranks: ' + ', '.join(map(str, digests))}",
              flush=True)
    return same


class _LossModule(torch.nn.Module):
    """A loss function of the network's parameters as a module, for DistributedDataParallel to wrap."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[..., Any]) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, *args: Any) -> Any:
        return self.loss_fn(*args)


def wrap_ddp(model: torch.nn.Module, loss_fn: Callable[..., Any], ctx: DistContext, cuda: bool) -> Callable[..., Any]:
    """loss_fn(*args) (the fused step's forward and loss) under DDP: its backward all-reduces the gradients.

    Rank 0's weights are broadcast once at the start. The buffers (decay^epoch, index tables) are the same on every
    rank: no need to broadcast them every step.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # broadcast_buffers is being renamed
        return torch.nn.parallel.DistributedDataParallel(_LossModule(model, loss_fn), broadcast_buffers=False,
                                                         device_ids=[ctx.local_rank] if cuda else None)
