"""The command line between ffviz and other tools: TensorBoard out, the authors' training logs in.

    python -m ffviz export --tensorboard tb/ runs/<run> [runs/<run> ...]
    python -m ffviz import-logs results/<their run folder> --dataset cifar10

ffviz/cli.py adds these subcommands to its parser (``add_interop_commands``) and hands them their arguments; each
prints one JSON line last, as the other commands do, for the app's worker processes to read.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_interop_commands(sub: Any) -> None:
    exp = sub.add_parser("export", help="write runs as TensorBoard event files (one event folder per run)")
    exp.add_argument("--tensorboard", required=True, metavar="OUT",
                     help="Folder that receives one event folder per run, named after the run: "
                          "`tensorboard --logdir OUT` shows them all.")
    exp.add_argument("runs", nargs="+", metavar="RUN", help="Run folders to export.")
    exp.add_argument("--overwrite", action="store_true",
                     help="Replace an event folder that exists already. Default: refuse.")
    imp = sub.add_parser("import-logs", help="open a folder of the authors' CAW-Conv training logs as a run")
    imp.add_argument("folder", help="The folder their script wrote: info_17L.csv, layer_losses_17L.csv, "
                                    "all_epochs_layer_weights.txt (and ortho_metrics_17L.csv, accuracy.csv, "
                                    "layer_acc.csv when there).")
    imp.add_argument("--dataset", default=None,
                     help="The dataset it trained on (see `python -m ffviz datasets`). Default: from their results "
                          "folder's name (<time>_<task>_<arch>), else marked unknown.")
    imp.add_argument("--runs-dir", default="runs", help="Folder that receives the run folder. Default: runs.")
    imp.add_argument("--name", default=None, help="A name for the run. Default: from the folder's name.")


def _export(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from ffviz.interop.tensorboard import ExportError, export_run

    written = []
    for run in args.runs:
        try:
            out = export_run(Path(run), Path(args.tensorboard), overwrite=args.overwrite)
        except ExportError as e:
            parser.exit(2, f"error: {e}\n")
        print(f"wrote {out}", flush=True)
        written.append(str(out))
    print(f"see them with: tensorboard --logdir {args.tensorboard}", flush=True)
    print(json.dumps({"status": "finished", "folders": written}), flush=True)
    return 0


def _import_logs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from ffviz.interop.authors_logs import AuthorsLogsError, import_logs

    try:
        run_dir = import_logs(Path(args.folder), args.runs_dir, dataset=args.dataset, name=args.name)
    except (AuthorsLogsError, OSError) as e:
        parser.exit(2, f"error: {e}\n")
    print(f"run folder: {run_dir}", flush=True)
    print(json.dumps({"status": "finished", "run": str(run_dir)}), flush=True)
    return 0


INTEROP_COMMANDS: dict[str, Callable[..., int]] = {"export": _export, "import-logs": _import_logs}
