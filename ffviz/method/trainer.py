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
from contextlib import nullcontext
from typing import Any

import torch

from ffviz import regularizers
from ffviz.config import RunConfig
from ffviz.data import DataSplits, load_dataset
from ffviz.data.registry import downloads_allowed, server_data_root
from ffviz.method.augment import augment_batch
from ffviz.method.control import RunControl
from ffviz.method.device import cpu_bf16_convs, cpu_bf16_flags, describe_device, resolve_device
from ffviz.method.distributed import DistContext, average_gradients, batch_part, wrap_ddp
from ffviz.method.epoch_readings import read_epoch
from ffviz.method.evaluate import collect_goodness, split_metrics
from ffviz.method.fast import kernels as fast_kernels
from ffviz.method.fast.clip import clip_per_layer
from ffviz.method.fast.consts import DeviceConsts
from ffviz.method.fast.graph import StepCapture, eager_optimizer_state
from ffviz.method.losses import LossStats
from ffviz.method.model import FFNet, build_network, count_parameters
from ffviz.method.step import TRAIN_FIELDS, EpochSums, fused_loss, lean_backward
from ffviz.modes import get_mode
from ffviz.records import BatchRecord, EpochRecord, EventRecord, Snapshot, TestRecord
from ffviz.regularizers import REGULARIZERS
from ffviz.regularizers import weights as regularizer_weights

# Building a model draws its initial weights from PyTorch's global RNG; runs starting in parallel threads take
# turns so that each one's weights depend on its seed alone.
_INIT_LOCK = threading.Lock()


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


class RunBoundError(RuntimeError):
    """The run went beyond a bound the server set for it (its folder's disk, ffviz/runner/run_writer.py); it stops,
    keeping what it recorded, and its message (the run's error) names the bound."""


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


def one_group(state: dict[str, Any]) -> dict[str, Any]:
    """An optimizer state saved with one parameter group per layer (checkpoints before the single group) as one
    group: the groups shared every setting, and the parameters' numbering runs on across groups unchanged."""
    groups = state["param_groups"]
    if len(groups) <= 1:
        return state
    merged = {**groups[0], "params": [i for g in groups for i in g["params"]]}
    return {**state, "param_groups": [merged]}


class Trainer:
    def __init__(self, cfg: RunConfig, *, data: DataSplits | None = None, control: RunControl | None = None,
                 callbacks: list[Callback] | tuple[Callback, ...] = (), checkpoint: dict[str, Any] | None = None,
                 dist: DistContext | None = None) -> None:
        self.dist = dist  # set under torchrun (ffviz.method.distributed): this rank's place in a DDP run
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
        self.loss_kind = get_mode(cfg.mode).loss  # ff, backprop, or the network's own (ffviz/modes.py)
        self.ff = self.loss_kind != "backprop"
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
        self.kernels = self._prepare_kernels()
        # The fused step's forward and loss: what DDP wraps, and what a benchmark may torch.compile.
        self._fused_losses = self._losses
        # compile on CUDA: the whole fused step is captured once as a CUDA graph (GraphedStep). Measured on an H200
        # (bench/REPORT.md), torch.compile of the forward and backward was slower than eager PyTorch on this network,
        # while eager PyTorch itself spends longer launching its ~1,400 operations per step than the GPU runs them.
        self._capture = StepCapture(enabled=cfg.compile and cuda and dist is None)
        if dist is not None:  # DDP all-reduces the gradients during the one backward
            self._fused_losses = wrap_ddp(self.model, self._fused_losses, dist, cuda)
        self._layer_params = [list(layer.parameters()) for layer in self.model.layers]
        self._const = DeviceConsts(self.device)  # small per-step tensors, copied to the device once
        self.optimizer = self._optimizer()
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
        except (NonFiniteLossError, RunBoundError) as e:
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

    @property
    def graph_error(self) -> str | None:
        """Why the CUDA graph capture failed (the run then went on eagerly); None if it did not."""
        return self._capture.error

    def evaluate_epoch(self) -> None:
        """Evaluate the network as it stands and emit its EpochRecord and Snapshot without training: a checkpoint made
        elsewhere (ffviz.interop.authors_checkpoint) has one epoch to show, the one it was saved at."""
        self._end_of_epoch(train=None)

    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint needs to continue this run exactly (tensors and plain data only)."""
        return {"config": self.cfg.to_dict(), "epoch": self.epoch, "step": self.step, "train_time": self.train_time,
                "model": self.model.state_dict(), "optimizer": eager_optimizer_state(self.optimizer),
                "alpha": self.alpha.tolist(), "dropout_rng": self.dropout_gen.get_state(),
                "aug_rng": self.aug_gen.get_state(), "num_classes": self.data.num_classes,
                "in_channels": self.data.in_channels, "image_size": self.data.image_size,
                "class_names": list(self.data.class_names), "num_parameters": self.num_parameters}

    def _optimizer(self) -> torch.optim.AdamW:
        """One AdamW over every layer's parameters: AdamW is element-wise and every layer shares its learning rate
        and weight decay, so this is exactly one optimizer per layer (tests/test_step.py), in one fused kernel call
        per step instead of one per layer (1-2 ms of a 40 ms step on the CPU). Each layer's own gradient clipping is
        clip_per_layer's. The fused kernel (one pass per tensor) where PyTorch has it."""
        fused = {"fused": True} if self.device.type in ("cpu", "cuda") else {"foreach": True}
        return torch.optim.AdamW([p for params in self._layer_params for p in params], lr=self.cfg.lr,
                                 weight_decay=self.cfg.weight_decay, **fused)

    def _prepare_kernels(self) -> dict[str, Any]:
        """The compiled CPU kernels for a Forward-Forward run on the CPU that asks for them (cfg.cpu_kernels), made
        ready before the first step so that compiling is never training time; what was used goes in meta.json."""
        wanted = (self.cfg.cpu_kernels == "fused" and self.device.type == "cpu" and self.ff
                  and self.loss_kind != "network")
        if not wanted:
            return {"fused": False, "why": "not asked for" if self.cfg.cpu_kernels != "fused" else
                    "the compiled kernels are for the CPU in the CAW-Conv Forward-Forward modes"}
        # bf16 convolutions where the CPU has bf16 arithmetic (the layers' maps of 8x8 and more: CAWConv._fused)
        bf16 = cpu_bf16_convs(self.cfg.bf16)
        state = fast_kernels.prepare_for(bf16)
        bf16 = bf16 and torch.bfloat16 in state.dtypes  # its kernels ready too (a failure leaves the float32 ones)
        self.model.set_fused(state.compiled is not None, bf16=bf16)
        return {**state.describe(), "bf16_convs": bf16, "cpu_bf16": cpu_bf16_flags()}

    # ----------------------------------------------------------------- training
    def _train_epoch(self) -> dict[str, Any] | None:
        """One pass over the training split; None when a stop was requested before it ended."""
        cfg, model, data = self.cfg, self.model, self.data
        model.train()
        model.set_epoch(self.epoch)
        self._set_lr(cosine_lr(cfg, self.epoch))
        n = len(data.train_y)
        # The permutation depends on (seed, epoch) only, so a resumed run shuffles exactly as an uninterrupted one.
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1000 + self.epoch))
        perm = perm.to(self.device)
        sums = EpochSums(model.num_layers, list(REGULARIZERS), self.device)
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
            # the regularizers' weights: their lambdas (live: the control may change them) times their schedules
            stats = self._step(x, y, tuple(regularizer_weights(self.cfg, self.epoch).values()))
            sums.add(stats, len(y))
            self.step += 1
            if self.step % cfg.batch_log_every == 0:
                loss = stats.loss.item()
                if not math.isfinite(loss):
                    raise NonFiniteLossError(f"the loss became {loss} at epoch {self.epoch + 1}, batch {self.step}; "
                                             f"try a lower learning rate or smaller regularizer weights")
                self._fire("on_batch", self, BatchRecord(
                    epoch=self.epoch, step=self.step, loss=loss, ce=stats.ce.tolist(), lr=self._lr(),
                    time=self.train_time + time.perf_counter() - t0))
        sums.all_reduce(self.dist)  # the whole epoch's statistics, every rank's batches
        epoch_compute = time.perf_counter() - t0
        self.train_time += epoch_compute
        train = sums.record_fields(regularizer_weights(self.cfg, self.epoch), epoch_compute)
        if not math.isfinite(train["train_loss"]):
            raise NonFiniteLossError(f"the loss became {train['train_loss']} in epoch {self.epoch + 1}; "
                                     f"try a lower learning rate or smaller regularizer weights")
        # the schedules' factors this epoch trained with (self.epoch counts it from 0 until it ends)
        return {**train, "schedules": regularizers.schedules(self.cfg, self.epoch)}

    def _step(self, x: torch.Tensor, y: torch.Tensor, lambdas: tuple[float, ...]) -> LossStats:
        """One optimizer step on the batch (x (B, C, H, W), y (B,)) for all layers at once; ``lambdas``: the
        regularizers' weights, in the registry's order."""
        self.optimizer.zero_grad(set_to_none=True)
        lam = self._const(lambdas, torch.float32)  # on the device: a captured step reads new values in place
        lean = self.ff and self.cfg.ff_step == "lean"
        if self._capture.enabled and not lean:
            stats = self._capture.step(self._fused_step, x, y, lam, key=(self.cfg.grad_clip,),
                                       optimizer=self.optimizer, params=[p for ps in self._layer_params for p in ps],
                                       generator=self.dropout_gen, consts=self._const.cache)
            if stats is not None:
                return stats
        if lean:
            stats = lean_backward(self.model, x, y, lam, self.cfg, autocast=self._autocast)
            average_gradients(list(self.model.parameters()), self.dist)
            self._clip_and_step()
            return stats.detach()
        return self._fused_step(x, y, lam)

    def _fused_step(self, x: torch.Tensor, y: torch.Tensor, lambdas: torch.Tensor) -> LossStats:
        """Forward, the loss, one backward, clipping, the optimizer step (what GraphedStep captures)."""
        stats = self._fused_losses(x, y, lambdas)
        stats.loss.backward()
        self._clip_and_step()
        return stats.detach()

    def _losses(self, x: torch.Tensor, y: torch.Tensor, lambdas: torch.Tensor) -> LossStats:
        if self.loss_kind == "network":  # its own loss (original-ff: positive and negative data, model/original_ff.py)
            return self.model.loss(x, y)
        return fused_loss(self.model, x, y, lambdas, self.cfg, ff=self.ff, autocast=self._autocast)

    def _clip_and_step(self) -> None:
        if self.cfg.grad_clip > 0:
            clip_per_layer(self._layer_params, self.cfg.grad_clip, self._const)
        self.optimizer.step()

    def _autocast(self):
        # no cast cache: every weight is cast once per step anyway, and a CUDA graph capture needs it off
        return (torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=False) if self.autocast
                else nullcontext())

    # --------------------------------------------------------------- evaluation
    def _goodness(self, x: torch.Tensor, probe: int = 0):
        return collect_goodness(self.model, x, batch_size=self.cfg.eval_batch_size, device=self.device, probe=probe,
                                autocast=self.autocast, channels_last=self.channels_last)

    def _end_of_epoch(self, train: dict[str, Any] | None) -> None:
        """Read the network after an epoch (validation, alpha, W) and emit its EpochRecord and Snapshot."""
        t0 = time.perf_counter()
        r = read_epoch(self.model, self.data, self.cfg, self._goodness, self.alpha, epoch=self.epoch,
                       train_ce=None if train is None else train["train_ce"])
        self.alpha = r.alpha
        self.train_time += time.perf_counter() - t0
        if train is None:  # the network as it stands, before (or without) a training epoch
            train = {**dict.fromkeys(TRAIN_FIELDS), "schedules": regularizers.schedules(self.cfg, self.epoch)}
        record = EpochRecord(epoch=self.epoch, step=self.step, time=self.train_time, lr=self._lr(),
                             device=self.device_name, lambdas=regularizers.lambdas(self.cfg), **train, **r.fields)
        self._fire("on_epoch", self, record, r.snapshot)

    # ------------------------------------------------------------------ control
    def _drain_control(self) -> None:
        for action in self.control.take_actions():
            self._event(action)
        for why in getattr(self.control, "take_notes", list)():  # steering input that was not obeyed
            self._event("ignored", message=why)
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
        self.optimizer.load_state_dict(one_group(ck["optimizer"]))
        self.epoch, self.step, self.train_time = int(ck["epoch"]), int(ck["step"]), float(ck["train_time"])
        self.alpha = torch.tensor(ck["alpha"], dtype=torch.float32)
        self.dropout_gen.set_state(ck["dropout_rng"])
        self.aug_gen.set_state(ck["aug_rng"])
