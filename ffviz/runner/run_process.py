"""A run's own process: train the run folder a server queued (or go on with it), beating a heartbeat, steered by its
control.json, and say how it ended. ``python -m ffviz train --run-dir DIR`` runs ``main``; a launcher that keeps a
process ready calls it in that process:

    from ffviz.runner.run_process import main
    sys.exit(main(run_dir))          # 0 when the run finished or was stopped, 1 when it failed (the folder says why)

One way opens a trainer from a folder, ``open_trainer``: from its newest checkpoint when it has one, else from its
config.json, to ``epochs`` when given. ``resume`` is the same for a run that must have a checkpoint (the CLI's
``--resume``), and ``train_distributed`` the same process under torchrun.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

from ffviz.config import RunConfig
from ffviz.method import distributed
from ffviz.method.trainer import Callback, Trainer
from ffviz.records import BatchRecord, EpochRecord, TestRecord
from ffviz.runner import threads as thread_plan
from ffviz.runner.run_writer import RunWriter
from ffviz.runner.steering import FileControl
from ffviz.store.checkpoint import resume_checkpoint
from ffviz.store.folder import ENDED_AS_ASKED, RunFolder
from ffviz.store.runs import new_run_dir, open_reader, update_meta
from ffviz.store.runstate import Heartbeat, read_meta


# ------------------------------------------------------------------------------------------- opening a trainer
def start_point(run_dir: Path | str, *, epochs: int | None = None, checkpoint_only: bool = False
                ) -> tuple[RunConfig, dict[str, Any] | None]:
    """(the config, the checkpoint or None) a run folder trains from: its newest checkpoint (last.pt; a shipped or
    uploaded run may carry only final.pt), else its config.json; ``epochs`` replaces the config's."""
    path = RunFolder(run_dir).newest_checkpoint()
    if path is None:
        if checkpoint_only:
            raise FileNotFoundError(f"{run_dir} has no checkpoint to resume from (it never finished an epoch)")
        cfg = open_reader(run_dir).config
        return (cfg if epochs is None else cfg.replace(epochs=int(epochs))), None
    # the trainer takes its config from the checkpoint: the run's checked config.json goes in, never the config the
    # checkpoint carries (an upload's was checked only as config.json; ffviz/store/checkpoint.py)
    ck = resume_checkpoint(run_dir, epochs=epochs)
    return RunConfig.from_dict(ck["config"]), ck


def open_trainer(run_dir: Path | str, *, epochs: int | None = None, checkpoint_only: bool = False,
                 callbacks: list[Callback] | tuple[Callback, ...] = (), **trainer: Any) -> Trainer:
    """A trainer that writes run_dir (its RunWriter first), from where the folder stands (``start_point``); other
    keywords go to the Trainer (control, data)."""
    cfg, ck = start_point(run_dir, epochs=epochs, checkpoint_only=checkpoint_only)
    return Trainer(cfg, checkpoint=ck, callbacks=[RunWriter(run_dir), *callbacks], **trainer)


def resume(run_dir: Path | str, *, epochs: int | None = None, **trainer: Any) -> Trainer:
    """A trainer that continues the run in run_dir from its last checkpoint (optionally to more epochs)."""
    return open_trainer(run_dir, epochs=epochs, checkpoint_only=True, **trainer)


# --------------------------------------------------------------------------------------------- the process
def main(run_dir: Path | str, *, progress: bool = True) -> int:
    """Train (or continue, to its meta.json's "continue_to") the run a server queued in run_dir. Whatever goes wrong
    before training starts is written to the folder, so the run's page says it; the trainer itself never raises."""
    run_dir = Path(run_dir)
    control = FileControl(run_dir)
    heartbeat = Heartbeat(run_dir).start()  # from the first moment: "starting" becomes a live run at once
    try:
        trainer = open_trainer(run_dir, epochs=read_meta(run_dir).get("continue_to"), control=control,
                               callbacks=[ProgressBar(progress)])
    except Exception as e:  # missing data, a bad config or checkpoint: the run failed, the folder says why
        heartbeat.stop()
        update_meta(run_dir, status="failed", error=f"{type(e).__name__}: {e}", pid=None)
        print(f"run failed before training: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return 1
    print(f"run folder: {run_dir}", flush=True)
    return fit(trainer, run_dir, control, heartbeat)


def fit(trainer: Trainer, run_dir: Path, control: FileControl, heartbeat: Heartbeat | None = None) -> int:
    """Train with a heartbeat in the folder; SIGTERM (a scheduler's cancel, a server's shutdown) stops at the next
    batch, as the Stop button does, so the run ends stopped with its records closed."""
    signal.signal(signal.SIGTERM, lambda *_: control.stop())
    heartbeat = heartbeat or Heartbeat(run_dir).start()
    try:
        status = trainer.fit()
    finally:
        heartbeat.stop()
    print(json.dumps({"status": status, "run": str(run_dir), "epochs": trainer.epoch}), flush=True)
    return 0 if status in ENDED_AS_ASKED else 1


def set_threads(threads: int | None) -> None:
    """This run's share of the CPU (ffviz/runner/threads.py). ``python -m ffviz`` planned it before torch loaded;
    a caller of main() in a process of its own (a test, a notebook) gets the thread count, and its wait policy stays
    as torch loaded it (meta.json's "threads" says so)."""
    planned = thread_plan.planned()
    if planned is None or threads is not None and threads != planned.threads:
        thread_plan.apply(thread_plan.plan(threads))


def train_distributed(cfg: RunConfig, checkpoint: dict[str, Any] | None, *, run_dir: Path | None = None,
                      runs_dir: Path | str = "runs", name: str | None = None, progress: bool = True) -> int:
    """``train`` under torchrun: every rank trains its part of each batch (ffviz.method.distributed); rank 0 alone
    writes the run folder (run_dir, or a new one under runs_dir) and prints progress."""
    ctx = distributed.setup(cfg.device)
    callbacks: list[Callback] = []
    heartbeat = None
    if ctx.is_main:
        fresh = run_dir is None
        run_dir = new_run_dir(runs_dir, cfg, name) if run_dir is None else run_dir
        callbacks = [RunWriter(run_dir, name=name if fresh else None), ProgressBar(progress)]
        # Rank 0 beats for the whole run. Steering by file is not offered under torchrun: a pause or stop seen by
        # one rank alone would leave the others waiting in their next all-reduce.
        heartbeat = Heartbeat(run_dir).start()
    trainer = Trainer(cfg, checkpoint=checkpoint, callbacks=callbacks, dist=ctx)
    if ctx.is_main:
        print(f"run folder: {run_dir} (rank 0 of {ctx.world_size}, {ctx.backend})", flush=True)
    status = trainer.fit()
    if heartbeat is not None:
        heartbeat.stop()
    distributed.report_sync(trainer.model, ctx)
    if ctx.is_main:
        print(json.dumps({"status": status, "run": str(run_dir), "epochs": trainer.epoch}), flush=True)
    distributed.teardown(ctx)
    return 0 if status in ENDED_AS_ASKED else 1


# ------------------------------------------------------------------------------------------------ its output
class ProgressBar(Callback):
    """A tqdm bar per epoch with the live numbers; one summary line per epoch (the run's process.log)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bar = None

    def on_start(self, trainer: Trainer) -> None:
        cfg = trainer.cfg
        print(f"ffviz: {cfg.mode} {cfg.preset} ({trainer.model.num_layers} layers, {trainer.num_parameters:,} "
              f"parameters) on {trainer.data.name} {tuple(trainer.data.train_x.shape[1:])}, "
              f"{len(trainer.data.train_y)}/{len(trainer.data.val_y)}/{len(trainer.data.test_y)} "
              f"train/val/test, device {trainer.device_name}", flush=True)

    def on_batch(self, trainer: Trainer, record: BatchRecord) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm
            n = -(-len(trainer.data.train_y) // trainer.cfg.batch_size)
            self.bar = tqdm(total=n, desc=f"epoch {record.epoch + 1}/{trainer.cfg.epochs}", leave=False,
                            unit="batch", dynamic_ncols=True)
        self.bar.n = (record.step - 1) % self.bar.total + 1
        self.bar.set_postfix(loss=f"{record.loss:.3f}", ce_last=f"{record.ce[-1]:.3f}", lr=f"{record.lr:.4f}",
                             refresh=False)
        self.bar.refresh()

    def on_epoch(self, trainer: Trainer, record: EpochRecord, snapshot: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if record.epoch == 0:
            print(f"epoch   0  val acc {record.acc_alpha:6.2f}% (untrained)", flush=True)
            return
        print(f"epoch {record.epoch:3d}  loss {record.train_loss:.4f}  val acc alpha {record.acc_alpha:6.2f}%  "
              f"sum {record.acc_sum:6.2f}%  last {record.acc_last:6.2f}%  best layer {record.best_layer} "
              f"{record.acc_best_layer:6.2f}%  {record.images_per_sec:,.0f} img/s  {record.epoch_seconds:.2f} s",
              flush=True)

    def on_end(self, trainer: Trainer, status: str, test: TestRecord | None) -> None:
        if self.bar is not None:
            self.bar.close()
        if test is not None:
            print(f"test acc  alpha {test.acc_alpha:.2f}%  sum {test.acc_sum:.2f}%  last {test.acc_last:.2f}%  "
                  f"layer {test.best_layer} (best on val) {test.acc_best_layer:.2f}%", flush=True)
        if trainer.error:
            print(f"run failed: {trainer.error}", file=sys.stderr, flush=True)
