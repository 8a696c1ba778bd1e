"""Command line: train headless and write the same run folders the app reads.

    python -m ffviz presets
    python -m ffviz datasets
    python -m ffviz train --preset classroom --epochs 5
    python -m ffviz train --resume runs/20261126-172000-learnable-classroom --epochs 30   # continue a run
    python -m ffviz train --run-dir runs/20261126-172000-learnable-classroom   # what a server launches
    python -m ffviz runs                       # every run in runs/ and its state (queued, running, interrupted...)
    python -m ffviz sweep --recipe classroom --grid lambda_entropy=0,0.01 --seeds 1,2     # a grid of runs
    python -m ffviz import authors.pth --dataset digits      # a checkpoint from the authors' CAW-Conv scripts
    python -m ffviz gif runs/<run folder> --layer 4          # the evolution of a layer's W, as an animated GIF
    python -m ffviz export --tensorboard tb/ runs/<run folder>   # TensorBoard event files (train --tensorboard: live)
    python -m ffviz import-logs <folder of the authors' logs>    # their training logs as a run (ffviz/interop/)

Every RunConfig field is a flag (``--lambda-entropy 0.01``); ``python -m ffviz train --help`` lists them with the
field docstrings. The paper's CIFAR-10 recipe is ``python -m ffviz train --recipe paper-cifar10``.

A run trained here can be steered like one the app started (its folder's control.json, ffviz/runner/steering.py) and
proves it is alive with a heartbeat (ffviz/store/runstate.py), so the app shows its true state. ``--run-dir`` trains a
folder that already holds its config.json (the app queued it): from its last checkpoint if it has one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
from pathlib import Path
from typing import Any

from ffviz.cli_beyond import BEYOND_COMMANDS, add_beyond_commands
from ffviz.config import RunConfig, field_info, parse
from ffviz.data import DATASETS, MissingDataError
from ffviz.interop.cli import INTEROP_COMMANDS, add_interop_commands
from ffviz.method import distributed
from ffviz.method.trainer import Callback, Trainer
from ffviz.presets import PRESETS
from ffviz.recipes import RECIPES
from ffviz.records import BatchRecord, EpochRecord, TestRecord
from ffviz.runner import threads as thread_plan
from ffviz.runner.launcher import carry_niceness_to_autogroup
from ffviz.runner.run_writer import RunWriter, resume
from ffviz.runner.steering import FileControl
from ffviz.store.checkpoint import resume_checkpoint
from ffviz.store.folder import RunFolder
from ffviz.store.runs import list_runs, new_run_dir, update_meta
from ffviz.store.runstate import Heartbeat, read_meta, run_state
from ffviz.store.storage import read_json


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ffviz", description="Forward-Forward CNNs with learnable "
                                     "channel-class assignment (CAW-Conv).")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("presets", help="list the architecture presets")
    sub.add_parser("datasets", help="list the datasets")
    runs = sub.add_parser("runs", help="list the runs in a runs folder and the state each is in")
    runs.add_argument("--runs-dir", default="runs", help="The runs folder. Default: runs.")
    # Each flag's help says its default itself, once: argparse's ArgumentDefaultsHelpFormatter would add a second
    # "(default: None)" to every config flag, whose parser default is None so that only the flags given override a
    # recipe.
    train = sub.add_parser("train", help="train a run (or continue one with --resume)")
    train.add_argument("--recipe", choices=sorted(RECIPES),
                       help="Start from a named recipe; the flags you give override it. Default: none.")
    train.add_argument("--runs-dir", default="runs", help="Folder that receives the run folder. Default: runs.")
    train.add_argument("--name", default=None,
                       help="A name for the run, also part of its folder name. Default: none.")
    train.add_argument("--resume", default=None, metavar="RUN_DIR",
                       help="Continue this run from its last checkpoint; give --epochs to extend it.")
    train.add_argument("--run-dir", default=None, metavar="RUN_DIR",
                       help="Train the run folder that already holds its config.json (what the app launches): "
                       "from its last checkpoint if it has one, else from the start.")
    train.add_argument("--threads", type=int, default=None,
                       help="CPU threads for this run. Default: $FFVIZ_RUN_THREADS, else torch's own choice.")
    train.add_argument("--no-progress", action="store_true",
                       help="Print one line per epoch instead of a progress bar.")
    train.add_argument("--tensorboard", default=None, metavar="DIR",
                       help="Also write TensorBoard event files live, in DIR/<run folder name>/ (follow them with "
                            "`tensorboard --logdir DIR`). Default: none.")
    _add_config_flags(train)
    add_beyond_commands(sub, _add_config_flags)
    add_interop_commands(sub)
    return parser


def _add_config_flags(command: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field, grouped as in RunConfig, help text from the field's own; the text a flag is
    given is read by config.parse, as every other way into a config."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    defaults = RunConfig()
    for f in field_info():
        group = groups.setdefault(f.metadata["group"], command.add_argument_group(f.metadata["group"]))
        kwargs: dict[str, Any] = {"help": f.metadata["help"], "default": None, "dest": f.name}
        if f.type == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = _reader(f.name)
            kwargs["metavar"] = "W1,W2,..." if f.type == "tuple[int, ...]" else f.name.upper()
        if f.metadata["choices"] is not None:
            kwargs["choices"] = f.metadata["choices"]
            kwargs.pop("metavar", None)
        kwargs["help"] += f" Default: {_default_text(getattr(defaults, f.name))}."
        group.add_argument(_flag(f.name), **kwargs)


def _reader(name: str) -> Any:
    """argparse's ``type`` for a field: config.parse, its message as argparse's error."""
    def read(text: str) -> Any:
        try:
            return parse(name, text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    read.__name__ = name
    return read


def _default_text(value: Any) -> str:
    """A default as a reader types it on the command line: 0.01, digits, on/off, 20,40,80 (none for empty)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "the preset's"
    return str(value)


class ProgressBar(Callback):
    """A tqdm bar per epoch with the live numbers; one summary line per epoch."""

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


def config_from_args(args: argparse.Namespace) -> RunConfig:
    values: dict[str, Any] = dict(RECIPES[args.recipe]) if args.recipe else {}
    for f in dataclasses.fields(RunConfig):
        v = getattr(args, f.name)
        if v is not None:
            values[f.name] = v
    return RunConfig.from_dict(values)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "presets":
        for p in PRESETS.values():
            print(f"{p.name:15s} {p.num_layers:2d} layers  widths {','.join(map(str, p.widths)):20s} {p.description}")
        print("\nThe paper-* recipes replicate the authors' code (fp32, their orthogonality scaling 'authors'); the "
              "others, and plain flags, use the scaling 'mean' (plain mean((G - I)^2)).\nRecipes (--recipe): "
              + ", ".join(RECIPES))
        return 0
    if args.command == "datasets":
        for info in DATASETS.values():
            print(f"{info.name:14s} {info.num_classes:3d} classes  {info.description}")
        return 0
    if args.command == "runs":
        # The same authority the app's pages use (ffviz/store/runstate.py): a killed run reads interrupted here too.
        for run_dir in list_runs(args.runs_dir):
            meta = read_meta(run_dir)
            print(f"{run_state(run_dir, meta):12s} {meta.get('epochs_done', 0):>4} epochs  {run_dir.name}")
        return 0
    if args.command in BEYOND_COMMANDS:
        return BEYOND_COMMANDS[args.command](parser, args, config_from_args)
    if args.command in INTEROP_COMMANDS:
        return INTEROP_COMMANDS[args.command](parser, args)
    _set_threads(args.threads)
    carry_niceness_to_autogroup()
    if distributed.env_world_size() > 1:
        return _main_distributed(parser, args)
    if args.run_dir:
        return _train_run_dir(Path(args.run_dir), progress=not args.no_progress)
    try:
        if args.resume:
            run_dir = Path(args.resume)
            control = FileControl(run_dir)
            trainer = resume(args.resume, epochs=args.epochs, control=control,
                             callbacks=[ProgressBar(not args.no_progress)])
        else:
            cfg = config_from_args(args)
            run_dir = new_run_dir(args.runs_dir, cfg, args.name)
            control = FileControl(run_dir)
            trainer = Trainer(cfg, control=control, callbacks=[ProgressBar(not args.no_progress)])
            trainer.callbacks.insert(0, RunWriter(run_dir, name=args.name))
    except (ValueError, FileNotFoundError, MissingDataError) as e:
        parser.exit(2, f"error: {e}\n")
    if args.tensorboard:
        from ffviz.interop.tensorboard import TensorBoardCallback  # lazy: tensorboard only when asked for

        trainer.callbacks.append(TensorBoardCallback(args.tensorboard, run_dir.name))
    print(f"run folder: {run_dir}", flush=True)
    return _fit(trainer, run_dir, control)


def _set_threads(threads: int | None) -> None:
    """This run's share of the CPU (ffviz/runner/threads.py). ``python -m ffviz`` planned it before torch loaded;
    a caller of main() in a process of its own (a test, a notebook) gets the thread count, and its wait policy stays
    as torch loaded it (meta.json's "threads" says so)."""
    planned = thread_plan.planned()
    if planned is None or threads is not None and threads != planned.threads:
        thread_plan.apply(thread_plan.plan(threads))


def _fit(trainer: Trainer, run_dir: Path, control: FileControl, heartbeat: Heartbeat | None = None) -> int:
    """Train with a heartbeat in the folder; SIGTERM (a scheduler's cancel, a server's shutdown) stops at the next
    batch, as the Stop button does, so the run ends stopped with its records closed."""
    signal.signal(signal.SIGTERM, lambda *_: control.stop())
    heartbeat = heartbeat or Heartbeat(run_dir).start()
    try:
        status = trainer.fit()
    finally:
        heartbeat.stop()
    print(json.dumps({"status": status, "run": str(run_dir), "epochs": trainer.epoch}), flush=True)
    return 0 if status in ("finished", "stopped") else 1


def _train_run_dir(run_dir: Path, *, progress: bool) -> int:
    """Train (or continue) the run a server queued in run_dir. Whatever goes wrong before training starts is
    written to the folder, so the run's page says it; the trainer itself never raises."""
    control = FileControl(run_dir)
    heartbeat = Heartbeat(run_dir).start()  # from the first moment: "starting" becomes a live run at once
    try:
        meta = read_meta(run_dir)
        epochs = meta.get("continue_to")
        if RunFolder(run_dir).newest_checkpoint() is not None:
            trainer = resume(run_dir, epochs=epochs, control=control, callbacks=[ProgressBar(progress)])
        else:
            cfg = RunConfig.from_dict(read_json(RunFolder(run_dir).config))
            if epochs is not None:
                cfg = cfg.replace(epochs=int(epochs))
            trainer = Trainer(cfg, control=control, callbacks=[RunWriter(run_dir), ProgressBar(progress)])
    except Exception as e:  # missing data, a bad config or checkpoint: the run failed, the folder says why
        heartbeat.stop()
        update_meta(run_dir, status="failed", error=f"{type(e).__name__}: {e}", pid=None)
        print(f"run failed before training: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return 1
    print(f"run folder: {run_dir}", flush=True)
    return _fit(trainer, run_dir, control, heartbeat)


def _main_distributed(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``train`` under torchrun: every rank trains its part of each batch (ffviz.method.distributed); rank 0
    alone writes the run folder and prints progress."""
    try:
        if args.run_dir and RunFolder(args.run_dir).newest_checkpoint() is None:
            run_dir = Path(args.run_dir)  # a folder the app queued: its config.json, from the start
            cfg, ck = RunConfig.from_dict(read_json(RunFolder(run_dir).config)), None
            if read_meta(run_dir).get("continue_to") is not None:
                cfg = cfg.replace(epochs=int(read_meta(run_dir)["continue_to"]))
        elif args.resume or args.run_dir:
            run_dir = Path(args.resume or args.run_dir)
            if args.run_dir and read_meta(run_dir).get("continue_to") is not None:
                args.epochs = int(read_meta(run_dir)["continue_to"])
            # as run_writer.resume: the newest checkpoint, with the run's checked config.json as its config
            ck = resume_checkpoint(run_dir, epochs=args.epochs)
            cfg = RunConfig.from_dict(ck["config"])
        else:
            cfg, ck = config_from_args(args), None
    except (ValueError, FileNotFoundError, MissingDataError) as e:
        parser.exit(2, f"error: {e}\n")
    ctx = distributed.setup(cfg.device)
    callbacks: list[Callback] = []
    heartbeat = None
    if ctx.is_main:
        if not (args.resume or args.run_dir):
            run_dir = new_run_dir(args.runs_dir, cfg, args.name)
        callbacks = [RunWriter(run_dir, name=None if args.resume or args.run_dir else args.name),
                     ProgressBar(not args.no_progress)]
        # Rank 0 beats for the whole run. Steering by file is not offered under torchrun: a pause or stop seen by
        # one rank alone would leave the others waiting in their next all-reduce.
        heartbeat = Heartbeat(run_dir).start()
    trainer = Trainer(cfg, checkpoint=ck, callbacks=callbacks, dist=ctx)
    if ctx.is_main:
        print(f"run folder: {run_dir} (rank 0 of {ctx.world_size}, {ctx.backend})", flush=True)
    status = trainer.fit()
    if heartbeat is not None:
        heartbeat.stop()
    distributed.report_sync(trainer.model, ctx)
    if ctx.is_main:
        print(json.dumps({"status": status, "run": str(run_dir), "epochs": trainer.epoch}), flush=True)
    distributed.teardown(ctx)
    return 0 if status in ("finished", "stopped") else 1


if __name__ == "__main__":
    sys.exit(main())
