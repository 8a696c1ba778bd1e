"""The command line beyond one run: sweeps, checkpoints from the authors' scripts, and GIFs of W for slides.

    python -m ffviz sweep --recipe classroom --grid lambda_entropy=0,0.01,0.1 --grid lambda_orth=0,0.001,0.1 --seeds 1,2
    python -m ffviz import checkpoint.pth --dataset digits            # the authors' CAW-Conv ResNet state_dict
    python -m ffviz gif runs/<run folder> --layer 4 --out w4.gif       # the evolution of a layer's W

ffviz/cli.py adds these subcommands to its parser (``add_beyond_commands``) and hands them their arguments.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ffviz.recipes import RECIPES
from ffviz.store.folder import RunFolder

ConfigFlags = Callable[[argparse.ArgumentParser], None]


def add_beyond_commands(sub: Any, add_config_flags: ConfigFlags) -> None:
    # No ArgumentDefaultsHelpFormatter here: the config flags' parser default is None (only the flags given
    # override the recipe) and their help states the real default already; these flags state theirs too.
    sweep = sub.add_parser("sweep", help="train a grid of settings over several seeds, grouped as one sweep")
    sweep.add_argument("--grid", action="append", required=True, metavar="FIELD=V1,V2,...",
                       help="A swept setting and its values; give it once or twice (rows, then columns).")
    sweep.add_argument("--seeds", default="1", help="Seeds, comma-separated: every cell trains once per seed. "
                                                    "Default: 1.")
    sweep.add_argument("--recipe", choices=sorted(RECIPES), help="Start from a named recipe; the flags you give "
                                                                 "override it. Default: none.")
    sweep.add_argument("--name", default="sweep", help="A name for the sweep, part of its folder name. "
                                                       "Default: sweep.")
    sweep.add_argument("--runs-dir", default="runs", help="The runs folder; the sweep goes in its sweeps/ folder. "
                                                          "Default: runs.")
    sweep.add_argument("--max-running", type=int, default=2, help="Runs that train at once; the rest wait. "
                                                                  "Default: 2.")
    sweep.add_argument("--max-runs", type=int, default=1000,
                       help="Refuse a sweep of more runs (cells x seeds) than this; the app's own bound is smaller. "
                            "Default: 1000.")
    add_config_flags(sweep)

    imp = sub.add_parser("import", help="open a state_dict saved by the authors' CAW-Conv ResNet scripts as a run")
    imp.add_argument("file", help="A .pth/.pt file: the model's state_dict, or their checkpoint dict that holds it "
                                  "under model_state_dict.")
    imp.add_argument("--dataset", default="digits",
                     help="Dataset to evaluate it on (see `python -m ffviz datasets`). Default: digits.")
    imp.add_argument("--data-root", default="data", help="Folder where downloaded datasets live. Default: data.")
    imp.add_argument("--image-size", type=int, default=0,
                     help="Input size in pixels; 0 = the dataset's default. Default: 0.")
    imp.add_argument("--trained-epochs", type=int, default=None,
                     help="Epochs the checkpoint had trained (sets the temperature decay 0.995^(epochs-1)). "
                          "Default: from their checkpoint's 'epoch', else 1 (no decay).")
    imp.add_argument("--runs-dir", default="runs", help="Folder that receives the run folder. Default: runs.")
    imp.add_argument("--name", default=None, help="A name for the run. Default: none.")
    imp.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"),
                     help="Where to evaluate it. Default: cpu.")

    gif = sub.add_parser("gif", help="the evolution of one layer's assignment W as an animated GIF")
    gif.add_argument("run", help="A run folder.")
    gif.add_argument("--layer", type=int, default=None, help="The layer. Default: the middle one.")
    gif.add_argument("--out", default=None, help="Output file. Default: <run folder>/w_layer<L>.gif.")
    gif.add_argument("--fps", type=float, default=2.0, help="Epochs per second. Default: 2.")

def _sweep(parser: argparse.ArgumentParser, args: argparse.Namespace, config_from_args: Any) -> int:
    from ffviz.runner.manager import RunManager
    from ffviz.runner.sweep_spec import SweepError, SweepSpec, cell_label, parse_axis, parse_seeds
    from ffviz.runner.sweep_store import run_sweep

    try:
        spec = SweepSpec(base=config_from_args(args), axes=tuple(parse_axis(g) for g in args.grid),
                         seeds=parse_seeds(args.seeds), name=args.name, max_runs=args.max_runs)
        manager = RunManager(args.runs_dir, max_running=args.max_running)
    except (SweepError, ValueError) as e:
        parser.exit(2, f"error: {e}\n")
    print(f"sweep {spec.name}: {len(spec.cells())} cells x {len(spec.seeds)} seeds = {spec.num_runs} runs, "
          f"{args.max_running} at a time", flush=True)
    cells = spec.cells()

    def on_end(slot: Any, state: str | None) -> None:
        print(f"  {cell_label(cells[slot.cell])}  seed {slot.seed}: {state}  ({slot.run_id})", flush=True)

    try:
        sweep = run_sweep(spec, manager, on_end=on_end)
    finally:
        manager.shutdown()
    states = [sweep.run_state(s.run_id) for s in sweep.slots()]
    print(f"sweep folder: {sweep.dir}", flush=True)
    print(json.dumps({"sweep": sweep.id, "runs": len(states), "finished": states.count("finished")}), flush=True)
    return 0 if all(s == "finished" for s in states) else 1


def _import(parser: argparse.ArgumentParser, args: argparse.Namespace, config_from_args: Any) -> int:
    from ffviz.data import MissingDataError
    from ffviz.interop.authors_checkpoint import AuthorsCheckpointError, import_authors

    try:
        run_dir = import_authors(Path(args.file), args.runs_dir, dataset=args.dataset, data_root=args.data_root,
                                 image_size=args.image_size, trained_epochs=args.trained_epochs, name=args.name,
                                 device=args.device)
    except (AuthorsCheckpointError, MissingDataError, ValueError, FileNotFoundError) as e:
        parser.exit(2, f"error: {e}\n")
    test = json.loads(RunFolder(run_dir).test.read_text())
    print(f"run folder: {run_dir}", flush=True)
    print(f"test acc  alpha {test['acc_alpha']:.2f}%  sum {test['acc_sum']:.2f}%  last {test['acc_last']:.2f}%",
          flush=True)
    print(json.dumps({"status": "finished", "run": str(run_dir)}), flush=True)
    return 0


def _gif(parser: argparse.ArgumentParser, args: argparse.Namespace, config_from_args: Any) -> int:
    from ffviz.api import open_run

    try:
        run = open_run(args.run)
        layer = run.num_layers // 2 if args.layer is None else args.layer
        data = run.gif(layer=layer, fps=args.fps)
    except (FileNotFoundError, ValueError) as e:
        parser.exit(2, f"error: {e}\n")
    out = Path(args.out) if args.out else Path(args.run) / f"w_layer{layer}.gif"
    out.write_bytes(data)
    print(f"wrote {out} ({len(data) / 1024:.0f} KB, {len(run.epochs)} epochs of layer {layer})", flush=True)
    return 0


BEYOND_COMMANDS: dict[str, Callable[..., int]] = {"sweep": _sweep, "import": _import, "gif": _gif}
