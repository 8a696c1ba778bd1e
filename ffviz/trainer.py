"""The trainer: runs a config to completion and fires events that the run files, the CLI and the app subscribe to.

    trainer = Trainer(RunConfig(preset="classroom", epochs=5), callbacks=[RunWriter(run_dir)])
    status = trainer.fit()   # "finished", "stopped" or "failed"

It knows nothing about where records go. Each epoch: the layers train on every mini-batch (Forward-Forward: all
local losses summed into one backward, or each layer's backward right after its forward in the lean step); then the
validation split is evaluated, the layer contributions alpha are set, and an EpochRecord and a Snapshot are emitted.
Between batches it honours a RunControl (pause, one epoch, stop, live lambda and learning-rate changes).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ffviz.augment import augment_batch
from ffviz.config import RunConfig
from ffviz.control import RunControl
from ffviz.data import DataSplits, load_dataset
from ffviz.data.registry import downloads_allowed, server_data_root
from ffviz.device import describe_device, resolve_device
from ffviz.distributed import DistContext, all_reduce_sum, average_gradients, batch_part
from ffviz.evaluate import collect_goodness, split_metrics
from ffviz.losses import layer_contributions, orth_warmup
from ffviz.model import FFNet, build_network, count_parameters
from ffviz.records import BatchRecord, EpochRecord, EventRecord, Snapshot, TestRecord

# Building a model draws its initial weights from PyTorch's global RNG; runs starting in parallel threads take
# turns so that each one's weights depend on its seed alone.
_INIT_LOCK = threading.Lock()


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


class Callback:
    """Hooks the trainer fires; override the ones you need. All run on the training thread."""

    def on_start(self, trainer: Trainer) -> None:
        """The run starts (or resumes from a checkpoint)."""

    def on_batch(self, trainer: Trainer, record: BatchRecord) -> None:
        """A training batch finished (every ``batch_log_every`` batches)."""

    def on_epoch(self, trainer: Trainer, record: EpochRecord, snapshot: Snapshot) -> None:
        """An epoch finished and was evaluated (also once for epoch 0, before any step)."""

    def on_event(self, trainer: Trainer, record: EventRecord) -> None:
        """A control action or a live hyperparameter change took effect."""

    def on_end(self, trainer: Trainer, status: str, test: TestRecord | None) -> None:
        """The run ended: "finished" (with its test record), "stopped" or "failed" (see trainer.error)."""


def cosine_lr(cfg: RunConfig, epoch: int) -> float:
    """Per-epoch cosine annealing from cfg.lr to cfg.lr_min over cfg.epochs (as CosineAnnealingLR)."""
    return cfg.lr_min + (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * epoch / cfg.epochs)) / 2


@dataclass
class StepStats:
    loss: torch.Tensor  # () total loss
    ce: torch.Tensor  # (L,)
    entropy: torch.Tensor  # (L,) raw
    orth: torch.Tensor  # (L,) raw
    correct: torch.Tensor  # (L,) number right in the batch


class _GraphedStep:
    """The fused training step (forward, backward, per-layer clipping, AdamW) captured once as a CUDA graph, then
    replayed for every batch of the same shape: one launch instead of ~1,400 operator calls per step.

    Warm-up steps (cuDNN autotuning, optimizer state) run on a side stream before the capture and are undone, so the
    run's first replay is its true first step. The batch, the regularizer weights and the learning rate are copied
    into tensors the graph reads; dropout masks come from the run's generator, registered with the graph.
    """

    def __init__(self, tr: Trainer, x: torch.Tensor, y: torch.Tensor, reg_weights: torch.Tensor, key: tuple) -> None:
        self.tr, self.key = tr, key
        opt = tr.optimizer
        for group in opt.param_groups:  # AdamW reads its step counts and learning rate on the GPU
            group["capturable"] = True
            if not torch.is_tensor(group["lr"]):
                group["lr"] = torch.tensor(float(group["lr"]), device=tr.device)
        self.x, self.y, self.rw = x.clone(), y.clone(), reg_weights.clone()
        params = [p for ps in tr._layer_params for p in ps]
        saved = [p.detach().clone() for p in params]
        saved_state = {p: {k: v.clone() for k, v in st.items()} for p, st in opt.state.items()}
        saved_rng = tr.dropout_gen.get_state()
        try:
            side = torch.cuda.Stream(tr.device)
            side.wait_stream(torch.cuda.current_stream(tr.device))
            with torch.cuda.stream(side):
                for _ in range(3):
                    opt.zero_grad(set_to_none=True)
                    self._body()
            torch.cuda.current_stream(tr.device).wait_stream(side)
        finally:
            with torch.no_grad():
                for p, v in zip(params, saved, strict=True):
                    p.copy_(v)
                for p, st in opt.state.items():
                    for k, v in st.items():
                        v.copy_(saved_state[p][k]) if p in saved_state else v.zero_()  # new state: fresh start
            tr.dropout_gen.set_state(saved_rng)
        self.graph = torch.cuda.CUDAGraph()
        self.graph.register_generator_state(tr.dropout_gen)
        opt.zero_grad(set_to_none=True)  # the graph's backward writes the gradients into its own memory
        with torch.cuda.graph(self.graph):
            self.out = self._body()
        # the graph reads these by address: keep them alive as long as it lives (the trainer's cache may drop them)
        self._consts = list(tr._device_consts.values())

    def _body(self) -> StepStats:
        tr = self.tr
        loss, ce, entropy, orth, g = tr._fused_losses(self.x, self.y, self.rw)
        loss.backward()
        correct = (g.detach().argmax(2) == self.y).sum(1)
        if tr.cfg.grad_clip > 0:
            tr._clip_per_layer(tr.cfg.grad_clip)
        tr.optimizer.step()
        return StepStats(loss=loss.detach(), ce=ce.detach(), entropy=entropy.detach(), orth=orth.detach(),
                         correct=correct.float())

    def run(self, x: torch.Tensor, y: torch.Tensor, reg_weights: torch.Tensor) -> StepStats:
        """One training step on (x, y); the returned tensors are overwritten by the next step."""
        self.x.copy_(x)
        self.y.copy_(y)
        self.rw.copy_(reg_weights)
        self.graph.replay()
        return self.out


class _LossModule(torch.nn.Module):
    """The fused step's losses as a module of the network's parameters, for DistributedDataParallel to wrap."""

    def __init__(self, model: FFNet, losses: Any) -> None:
        super().__init__()
        self.model = model
        self.losses = losses

    def forward(self, x: torch.Tensor, y: torch.Tensor, reg_weights: torch.Tensor) -> Any:
        return self.losses(x, y, reg_weights)


class Trainer:
    def __init__(self, cfg: RunConfig, *, data: DataSplits | None = None, control: RunControl | None = None,
                 callbacks: list[Callback] | tuple[Callback, ...] = (), checkpoint: dict[str, Any] | None = None,
                 dist: DistContext | None = None) -> None:
        self.dist = dist  # set under torchrun (ffviz.distributed): this rank's place in a DDP run
        if checkpoint is not None:
            cfg = RunConfig.from_dict(checkpoint["config"])
        self.cfg = cfg
        self.control = control or RunControl()
        self.callbacks = list(callbacks)
        self.device = resolve_device(cfg.device)
        # Where data lives and whether it may be downloaded are the server's to say ($FFVIZ_DATA_DIR,
        # $FFVIZ_DOWNLOADS), over whatever a config from a link or an upload carries.
        self.data = (data or load_dataset(cfg.dataset, root=server_data_root() or cfg.data_root,
                                          image_size=cfg.image_size or None, channels=cfg.channels or None,
                                          seed=cfg.seed, download=downloads_allowed())).to(self.device)
        self._black = [-m / s for m, s in zip(self.data.mean, self.data.std, strict=True)]  # pixel 0, normalised
        self.ff = cfg.mode != "backprop"
        self.learnable = cfg.mode != "static"
        cuda = self.device.type == "cuda"
        if cuda:
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest convolutions once
        self.autocast = cfg.bf16 and cuda
        self.channels_last = cfg.channels_last and cuda
        with _INIT_LOCK:
            torch.manual_seed(cfg.seed)
            self.model: FFNet = build_network(cfg, in_channels=self.data.in_channels,
                                              num_classes=self.data.num_classes, image_size=self.data.image_size)
        self.model.to(self.device)
        if cfg.channels_last and self.device.type in ("cuda", "cpu"):
            # On the CPU only the conv weights go channels-last: oneDNN's convolutions run faster so, while PyTorch's
            # CPU reductions and norms prefer channels-first activations (CAWConv.forward converts around the conv).
            self.model.to(memory_format=torch.channels_last)
        # The run's own generators: dropout masks, shuffling and augmentation depend on the seed alone.
        self.dropout_gen = torch.Generator(self.device).manual_seed(cfg.seed + 1)
        self.aug_gen = torch.Generator(self.device).manual_seed(cfg.seed + 2)
        self.model.set_generator(self.dropout_gen)
        # The fused step's forward and losses: what DDP wraps, and what a benchmark may torch.compile.
        self._fused_losses = self._losses
        # compile on CUDA: the whole fused step is captured once as a CUDA graph (_GraphedStep). Measured on an H200
        # (bench/REPORT.md), torch.compile of the forward and backward was slower than eager PyTorch on this network,
        # while eager PyTorch itself spends longer launching its ~1,400 operations per step than the GPU runs them.
        self._graph_enabled = cfg.compile and cuda and dist is None
        self._graph: _GraphedStep | None = None
        self.graph_error: str | None = None  # why a capture failed (the run then goes on eagerly)
        if dist is not None:
            # DDP all-reduces the gradients during the one backward; rank 0's weights are broadcast first. The
            # buffers (decay^epoch, index tables) are the same on every rank: no need to broadcast them every step.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # broadcast_buffers is being renamed
                self._fused_losses = torch.nn.parallel.DistributedDataParallel(
                    _LossModule(self.model, self._fused_losses), broadcast_buffers=False,
                    device_ids=[dist.local_rank] if cuda else None)
        # One AdamW parameter group per layer: identical to one optimizer per layer (AdamW is element-wise), but one
        # step call for all of them. The fused kernel (one pass per tensor) where PyTorch has it.
        fused = {"fused": True} if self.device.type in ("cpu", "cuda") else {"foreach": True}
        self._layer_params = [list(layer.parameters()) for layer in self.model.layers]
        self._device_consts: dict[tuple, torch.Tensor] = {}  # small per-step tensors, copied to the device once
        self.optimizer = torch.optim.AdamW([{"params": params} for params in self._layer_params],
                                           lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)
        self.num_parameters = count_parameters(self.model)
        self.epoch = 0  # epochs completed
        self.step = 0
        self.train_time = 0.0
        self.alpha = torch.full((self.model.num_layers,), 1.0 / self.model.num_layers)
        self.error: str | None = None
        self.device_name = describe_device(self.device)
        if checkpoint is not None:
            self._load_state(checkpoint)

    # ------------------------------------------------------------------ public
    def fit(self) -> str:
        """Train to cfg.epochs; return "finished", "stopped" or "failed" (never raises for a failed run)."""
        status, test = "failed", None
        try:
            self._fire("on_start", self)
            self._event("start" if self.epoch == 0 else "resume")
            if self.epoch == 0 and self.step == 0:
                self._end_of_epoch(train=None)
            while self.epoch < self.cfg.epochs:
                train = self._train_epoch()
                if train is None:
                    break
                self.epoch += 1
                self._end_of_epoch(train=train)
                self.control.epoch_ended()
            if self.epoch >= self.cfg.epochs:
                test = self.test()
                status = "finished"
            else:
                status = "stopped"
        except NonFiniteLossError as e:
            self.error = str(e)
        except torch.OutOfMemoryError:
            self.error = (f"out of memory on {self.device_name} with batch size {self.cfg.batch_size}; "
                          f"try a smaller batch size or a smaller preset")
        except Exception as e:  # a crash stays in this run: report it, do not take the app down
            self.error = f"{type(e).__name__}: {e}"
        if self.error is not None:
            self._event("fail", message=self.error)
        else:
            self._event("finish" if status == "finished" else "stop")
        self._fire("on_end", self, status, test)
        return status

    @torch.no_grad()
    def test(self) -> TestRecord:
        """Test-split readings at the end; the best layer is the one that was best on validation."""
        val = split_metrics(self._goodness(self.data.val_x).g, self.data.val_y.cpu(), self.alpha)
        g = self._goodness(self.data.test_x).g
        m = split_metrics(g, self.data.test_y.cpu(), self.alpha, best_layer=val.best_layer)
        return TestRecord(epoch=self.epoch, acc_alpha=m.acc_alpha, acc_sum=m.acc_sum, acc_last=m.acc_last,
                          acc_best_layer=m.acc_best_layer, best_layer=m.best_layer, layer_acc=m.layer_acc)

    def evaluate_epoch(self) -> None:
        """Evaluate the network as it stands and emit its EpochRecord and Snapshot without training: a checkpoint made
        elsewhere (ffviz.authors) has one epoch to show, the one it was saved at."""
        self._end_of_epoch(train=None)

    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint needs to continue this run exactly (tensors and plain data only)."""
        return {"config": self.cfg.to_dict(), "epoch": self.epoch, "step": self.step, "train_time": self.train_time,
                "model": self.model.state_dict(), "optimizer": self._optimizer_state(),
                "alpha": self.alpha.tolist(), "dropout_rng": self.dropout_gen.get_state(),
                "aug_rng": self.aug_gen.get_state(), "num_classes": self.data.num_classes,
                "in_channels": self.data.in_channels, "image_size": self.data.image_size,
                "class_names": list(self.data.class_names), "num_parameters": self.num_parameters}

    def _optimizer_state(self) -> dict[str, Any]:
        """The optimizer's state dict as an eager step would have it (a captured step's GPU-side learning rate and
        capturable flag are its own business), so the checkpoint loads anywhere."""
        state = self.optimizer.state_dict()
        for group in state["param_groups"]:
            group["lr"] = float(group["lr"])
            group["capturable"] = False
        return state

    # ----------------------------------------------------------------- training
    def _train_epoch(self) -> dict[str, Any] | None:
        """One pass over the training split; None when a stop was requested before it ended."""
        cfg, model, data = self.cfg, self.model, self.data
        model.train()
        model.set_epoch(self.epoch)
        warm = orth_warmup(self.epoch, cfg.orth_warmup_epochs)
        self._set_lr(cosine_lr(cfg, self.epoch))
        n = len(data.train_y)
        # The permutation depends on (seed, epoch) only, so a resumed run shuffles exactly as an uninterrupted one.
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1000 + self.epoch))
        perm = perm.to(self.device)
        num_layers = model.num_layers
        sums = torch.zeros(5, num_layers, device=self.device)  # ce, entropy, orth, correct, and loss in [4, 0]
        seen = 0
        t0 = time.perf_counter()
        for start in range(0, n, cfg.batch_size):
            before = time.perf_counter()
            # on_wait records the "pause" event before blocking, so the page shows it at once.
            if not self.control.wait_between_batches(on_wait=self._drain_control):
                self._drain_control()
                return None
            t0 += time.perf_counter() - before  # time spent paused is not training time
            self._drain_control()
            idx = batch_part(perm[start:start + cfg.batch_size], self.dist)  # all of it without DDP
            if idx is None:
                continue
            x, y = data.train_x[idx], data.train_y[idx]
            if data.augment:
                # a black border, as a crop with zero padding ahead of the normalisation (the authors' pipeline)
                x = augment_batch(x, generator=self.aug_gen, padding_mode="constant", fill=self._black)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            stats = self._step(x, y, warm)
            sums[0] += stats.ce.detach() * len(y)
            sums[1] += stats.entropy.detach() * len(y)
            sums[2] += stats.orth.detach() * len(y)
            sums[3] += stats.correct
            sums[4, 0] += stats.loss.detach() * len(y)
            seen += len(y)
            self.step += 1
            if self.step % cfg.batch_log_every == 0:
                loss = stats.loss.item()
                if not math.isfinite(loss):
                    raise NonFiniteLossError(f"the loss became {loss} at epoch {self.epoch + 1}, batch {self.step}; "
                                             f"try a lower learning rate or smaller regularizer weights")
                self._fire("on_batch", self, BatchRecord(
                    epoch=self.epoch, step=self.step, loss=loss, ce=stats.ce.tolist(), lr=self._lr(),
                    time=self.train_time + time.perf_counter() - t0))
        if self.dist is not None:  # the whole epoch's statistics, every rank's batches
            sums = all_reduce_sum(torch.cat([sums.flatten(), sums.new_tensor([seen])]), self.dist)
            sums, seen = sums[:-1].view(5, num_layers), int(sums[-1].item())
        epoch_compute = time.perf_counter() - t0
        self.train_time += epoch_compute
        s = (sums / max(seen, 1)).cpu()
        if not math.isfinite(s[4, 0].item()):
            raise NonFiniteLossError(f"the loss became {s[4, 0].item()} in epoch {self.epoch + 1}; "
                                     f"try a lower learning rate or smaller regularizer weights")
        return {"ce": s[0].tolist(), "entropy": s[1].tolist(), "orth": s[2].tolist(),
                "acc": (100 * s[3]).tolist(), "loss": s[4, 0].item(), "warm": warm, "seconds": epoch_compute,
                "images_per_sec": seen / epoch_compute if epoch_compute > 0 else None}

    def _step(self, x: torch.Tensor, y: torch.Tensor, warm: float) -> StepStats:
        """One optimizer step on the batch (x (B, C, H, W), y (B,)) for all layers at once."""
        cfg = self.cfg
        self.optimizer.zero_grad(set_to_none=True)
        # (lambda_entropy, lambda_orth * warm-up) as a tensor: a compiled step does not recompile as they change
        reg_weights = self._const((cfg.lambda_entropy, cfg.lambda_orth * warm), torch.float32)
        if self._graph_enabled and not (self.ff and cfg.ff_step == "lean"):
            stats = self._graphed_step(x, y, reg_weights)
            if stats is not None:
                return stats
        if self.ff and cfg.ff_step == "lean":
            loss, ce, entropy, orth, correct = self._lean_backward(x, y, reg_weights)
            average_gradients(list(self.model.parameters()), self.dist)
        else:
            loss, ce, entropy, orth, g = self._fused_losses(x, y, reg_weights)
            loss.backward()
            correct = (g.detach().argmax(2) == y).sum(1)  # (L,)
        if cfg.grad_clip > 0:
            self._clip_per_layer(cfg.grad_clip)
        self.optimizer.step()
        return StepStats(loss=loss.detach(), ce=ce.detach(), entropy=entropy.detach(), orth=orth.detach(),
                         correct=correct.float())

    def _graphed_step(self, x: torch.Tensor, y: torch.Tensor, reg_weights: torch.Tensor) -> StepStats | None:
        """Replay the captured step (capturing it first); None: run this batch eagerly (another batch shape, such as
        an epoch's last batch, or a capture that failed)."""
        key = (tuple(x.shape), self.cfg.grad_clip)
        if self._graph is not None and self._graph.key[0] != key[0]:
            return None
        try:
            if self._graph is None or self._graph.key != key:
                self._graph = None
                self._graph = _GraphedStep(self, x, y, reg_weights, key)
            return self._graph.run(x, y, reg_weights)
        except Exception as e:  # a capture can fail on an unsupported operation: keep training, eagerly
            self._graph_enabled, self._graph = False, None
            self.graph_error = f"{type(e).__name__}: {e}"
            warnings.warn(f"CUDA graph capture failed, training eagerly: {self.graph_error}", stacklevel=2)
            return None

    def _autocast(self):
        # no cast cache: every weight is cast once per step anyway, and a CUDA graph capture needs it off
        return (torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=False) if self.autocast
                else nullcontext())

    def _losses(self, x: torch.Tensor, y: torch.Tensor, reg_weights: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The loss that one backward minimises, and its parts: (loss, ce (L,), entropy (L,), orth (L,), g (L, B, K)).

        Forward-Forward: the sum of every layer's local loss; each layer's input is detached, so the one backward
        gives every layer exactly the gradient of its own loss. Backprop: the last layer's cross-entropy is the
        network's loss; the regularizers still shape every layer's W.
        """
        cfg = self.cfg
        terms = self.model.assignment_terms(cfg.orth_scaling)  # tiny: float32, outside autocast
        with self._autocast():
            g = torch.stack([out.g for out in self.model.layers_forward(x, detach=self.ff, ws=terms.w)]).float()
        num_layers, batch, k = g.shape
        # all layers' cross-entropies in one call: (L * B, K) logits against the labels repeated per layer
        ce = F.cross_entropy(g.reshape(num_layers * batch, k), y.repeat(num_layers), reduction="none",
                             label_smoothing=cfg.label_smoothing).view(num_layers, batch).mean(1)  # (L,)
        reg = reg_weights[0] * terms.entropy + reg_weights[1] * terms.orth  # (L,)
        loss = (ce.sum() if self.ff else ce[-1]) + reg.sum()
        return loss, ce, terms.entropy, terms.orth, g

    def _lean_backward(self, x: torch.Tensor, y: torch.Tensor, reg_weights: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The memory-lean FF step: each layer's backward runs right after its own forward, so only one layer's
        activations are alive at a time. Same gradients as the fused step.

        The assignments of all layers come from one small shared graph; the layers' backwards collect the gradient
        of every W in a detached copy, and one last backward carries it (and the regularizers') to A and log T.
        """
        cfg = self.cfg
        ces, correct = [], []
        terms = self.model.assignment_terms(cfg.orth_scaling)  # tiny: float32, outside autocast
        reg = reg_weights[0] * terms.entropy + reg_weights[1] * terms.orth  # (L,)
        with self._autocast():
            leaves = [w.detach().requires_grad_(w.requires_grad) for w in terms.w]
            for out in self.model.layers_forward(x, detach=True, ws=leaves):
                ce = F.cross_entropy(out.g.float(), y, label_smoothing=cfg.label_smoothing)
                ce.backward()  # frees this layer's graph before the next layer runs
                ces.append(ce.detach())
                correct.append((out.g.detach().argmax(1) == y).sum())
        if self.learnable:
            grads = [leaf.grad if leaf.grad is not None else torch.zeros_like(leaf) for leaf in leaves]
            torch.autograd.backward([reg.sum(), *terms.w], [torch.ones_like(reg[0]), *grads])
        ce = torch.stack(ces)
        return ce.sum() + reg.detach().sum(), ce, terms.entropy, terms.orth, torch.stack(correct)

    def _const(self, values: tuple, dtype: torch.dtype) -> torch.Tensor:
        """torch.tensor(values) on the device, made once per distinct value (no host-to-device copy every step)."""
        key = (values, dtype)
        if key not in self._device_consts:
            if len(self._device_consts) > 64:
                self._device_consts.clear()
            self._device_consts[key] = torch.tensor(values, dtype=dtype, device=self.device)
        return self._device_consts[key]

    def _clip_per_layer(self, max_norm: float) -> None:
        """Clip each layer's gradient to norm max_norm, as torch.nn.utils.clip_grad_norm_ on each layer's parameters,
        with one norm call for the whole network."""
        grads, owner = [], []
        for i, params in enumerate(self._layer_params):
            for p in params:
                if p.grad is not None:
                    grads.append(p.grad)
                    owner.append(i)
        if not grads:
            return
        owner_t = self._const(tuple(owner), torch.long)
        sq = torch.stack(torch._foreach_norm(grads)).square()  # (P,)
        norms = torch.zeros(len(self._layer_params), device=sq.device, dtype=sq.dtype).index_add_(0, owner_t, sq)
        coef = (max_norm / (norms.sqrt() + 1e-6)).clamp_(max=1.0)  # (L,)
        torch._foreach_mul_(grads, list(coef[owner_t].unbind()))

    # --------------------------------------------------------------- evaluation
    def _goodness(self, x: torch.Tensor, probe: int = 0):
        return collect_goodness(self.model, x, batch_size=self.cfg.eval_batch_size, device=self.device, probe=probe,
                                autocast=self.autocast, channels_last=self.channels_last)

    @torch.no_grad()
    def _end_of_epoch(self, train: dict[str, Any] | None) -> None:
        cfg, data = self.cfg, self.data
        t0 = time.perf_counter()
        probe = min(cfg.probe_size, len(data.val_y))
        lg = self._goodness(data.val_x, probe=probe)
        val_y = data.val_y.cpu()
        ce_val = [F.cross_entropy(g, val_y, label_smoothing=cfg.label_smoothing).item() for g in lg.g]
        if train is not None:
            signal = train["ce"] if cfg.contribution_signal == "train" else ce_val
            self.alpha = layer_contributions(torch.tensor(signal), cfg.contribution_tau)
        m = split_metrics(lg.g, val_y, self.alpha, label_smoothing=cfg.label_smoothing)
        ws = [layer.assignment().detach().float().cpu() for layer in self.model.layers]
        temps = [layer.temperature().item() for layer in self.model.layers]
        self.train_time += time.perf_counter() - t0
        warm = orth_warmup(self.epoch, cfg.orth_warmup_epochs) if train is None else train["warm"]

        def weighted(key: str, lam: float) -> list[float] | None:
            return None if train is None else [lam * v for v in train[key]]
        record = EpochRecord(
            epoch=self.epoch, step=self.step, time=self.train_time, lr=self._lr(), device=self.device_name,
            temperature=temps, lambda_entropy=cfg.lambda_entropy, lambda_orth=cfg.lambda_orth, orth_warmup=warm,
            train_loss=None if train is None else train["loss"],
            train_ce=None if train is None else train["ce"],
            train_entropy=None if train is None else train["entropy"],
            train_orth=None if train is None else train["orth"],
            train_entropy_w=weighted("entropy", cfg.lambda_entropy),
            train_orth_w=weighted("orth", cfg.lambda_orth * warm),
            train_acc=None if train is None else train["acc"],
            val_ce=ce_val, val_acc=m.layer_acc, alpha=self.alpha.tolist(), acc_alpha=m.acc_alpha, acc_sum=m.acc_sum,
            acc_last=m.acc_last, acc_best_layer=m.acc_best_layer, best_layer=m.best_layer, good_true=m.good_true,
            good_wrong=m.good_wrong, w_sharpness=[w.max(1).values.mean().item() for w in ws],
            channels_per_class=[torch.bincount(w.argmax(1), minlength=data.num_classes).tolist() for w in ws],
            images_per_sec=None if train is None else train["images_per_sec"],
            epoch_seconds=None if train is None else train["seconds"])
        snapshot = Snapshot(epoch=self.epoch, w=[w.numpy() for w in ws], probe_index=np.arange(probe),
                            probe_y=val_y[:probe].numpy(), probe_g=[g[:probe].numpy() for g in lg.g],
                            probe_p=[p.numpy() for p in lg.probe_p], val_pred=m.pred_alpha.numpy(),
                            val_y=val_y.numpy())
        self._fire("on_epoch", self, record, snapshot)

    # ------------------------------------------------------------------ control
    def _drain_control(self) -> None:
        for action in self.control.take_actions():
            self._event(action)
        changes = self.control.take_changes()
        diff = {k: [getattr(self.cfg, k), v] for k, v in changes.items() if getattr(self.cfg, k) != v}
        if not diff:
            return
        new = self.cfg.replace(**{k: v[1] for k, v in diff.items()})
        if new.lr_min > new.lr:  # a lower peak lr than lr_min: the schedule ends where it starts
            new = new.replace(lr_min=new.lr)
        self.cfg = new
        if "lr" in diff:
            self._set_lr(cosine_lr(self.cfg, self.epoch))
        self._event("set", changes=diff)

    def _event(self, action: str, changes: dict[str, list[Any]] | None = None, message: str = "") -> None:
        self._fire("on_event", self, EventRecord(epoch=self.epoch, step=self.step, time=self.train_time,
                                                 action=action, changes=changes or {}, message=message))

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            if torch.is_tensor(group["lr"]):  # a captured step reads it from the GPU
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _fire(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def _load_state(self, ck: dict[str, Any]) -> None:
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.epoch, self.step, self.train_time = int(ck["epoch"]), int(ck["step"]), float(ck["train_time"])
        self.alpha = torch.tensor(ck["alpha"], dtype=torch.float32)
        self.dropout_gen.set_state(ck["dropout_rng"])
        self.aug_gen.set_state(ck["aug_rng"])
