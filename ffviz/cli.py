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
folder that already holds its config.json (the app queued it): from its last checkpoint if it has one. That is the
run's own process, ffviz/runner/run_process.py; this module only reads the flags and hands over.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from ffviz.cli_beyond import BEYOND_COMMANDS, add_beyond_commands
from ffviz.config import RunConfig, field_info, parse
from ffviz.data import DATASETS, MissingDataError
from ffviz.interop.cli import INTEROP_COMMANDS, add_interop_commands
from ffviz.method import distributed
from ffviz.method.trainer import Trainer
from ffviz.presets import PRESETS
from ffviz.recipes import RECIPES
from ffviz.runner import run_process
from ffviz.runner.launcher import carry_niceness_to_autogroup
from ffviz.runner.run_process import ProgressBar
from ffviz.runner.run_writer import RunWriter
from ffviz.runner.steering import FileControl
from ffviz.store.runs import list_runs, new_run_dir
from ffviz.store.runstate import read_meta, run_state


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
    run_process.set_threads(args.threads)
    carry_niceness_to_autogroup()
    if distributed.env_world_size() > 1:
        return _distributed(parser, args)
    if args.run_dir:
        return run_process.main(Path(args.run_dir), progress=not args.no_progress)
    try:
        if args.resume:
            run_dir = Path(args.resume)
            control = FileControl(run_dir)
            trainer = run_process.resume(run_dir, epochs=args.epochs, control=control,
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
    return run_process.fit(trainer, run_dir, control)


def _distributed(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``train`` under torchrun (ffviz.runner.run_process.train_distributed): a queued or resumed folder from where
    it stands (a queued one to its meta.json's "continue_to"), or a new run from the flags."""
    folder = args.run_dir or args.resume
    try:
        if folder:
            continue_to = read_meta(folder).get("continue_to") if args.run_dir else None
            cfg, ck = run_process.start_point(folder, epochs=args.epochs if continue_to is None else continue_to,
                                              checkpoint_only=bool(args.resume))
        else:
            cfg, ck = config_from_args(args), None
    except (ValueError, FileNotFoundError, MissingDataError) as e:
        parser.exit(2, f"error: {e}\n")
    return run_process.train_distributed(cfg, ck, run_dir=Path(folder) if folder else None, runs_dir=args.runs_dir,
                                         name=args.name, progress=not args.no_progress)


if __name__ == "__main__":
    sys.exit(main())
