"""The command line: presets, datasets, a real run, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ffviz.cli import RECIPES, build_parser, config_from_args, main
from ffviz.presets import PRESETS


def test_presets_and_datasets_are_listed(capsys) -> None:
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PRESETS)
    assert main(["datasets"]) == 0
    assert "digits" in capsys.readouterr().out


def test_train_writes_a_complete_run(tmp_path, capsys) -> None:
    code = main(["train", "--preset", "classroom-mini", "--epochs", "1", "--image-size", "8", "--batch-size", "256",
                 "--runs-dir", str(tmp_path), "--name", "cli test", "--no-progress", "--lambda-entropy", "0.02"])
    assert code == 0
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "finished"
    run = tmp_path / summary["run"].split("/")[-1]
    assert json.loads((run / "config.json").read_text())["lambda_entropy"] == 0.02
    assert (run / "test.json").exists() and (run / "checkpoints" / "final.pt").exists()
    assert "test acc" in out


def test_paper_recipe_is_the_method_md_recipe() -> None:
    args = build_parser().parse_args(["train", "--recipe", "paper-cifar10"])
    cfg = config_from_args(args)
    assert (cfg.dataset, cfg.preset, cfg.epochs, cfg.batch_size, cfg.lr, cfg.lr_min, cfg.weight_decay,
            cfg.grad_clip, cfg.dropout, cfg.seed) == ("cifar10", "resnet17", 150, 128, 0.08, 0.006, 5e-4, 1.0, 0.1,
                                                      2222)
    # flags override the recipe
    cfg = config_from_args(build_parser().parse_args(["train", "--recipe", "paper-cifar10", "--epochs", "3"]))
    assert cfg.epochs == 3 and set(RECIPES) >= {"paper-cifar10", "side-by-side"}


@pytest.mark.parametrize("argv, needle", [
    (["--mode", "sideways"], "invalid choice"),
    (["--lambda-entropy", "-1"], "lambda_entropy=-1.0 must be in [0.0, 10.0]"),
    (["--widths", "20,30"], "twice as wide"),
    (["--preset", "huge"], "unknown preset 'huge'; valid presets:"),
    (["--dataset", "imagenet"], "valid"),
])
def test_bad_arguments_name_the_field(argv, needle, tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "ffviz", "train", "--runs-dir", str(tmp_path), "--epochs", "1",
                           *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["train", "sweep", "import", "gif"])
def test_help_states_each_default_once_in_sentences(command: str) -> None:
    parser = build_parser()._subparsers._group_actions[0].choices[command]
    text = parser.format_help()
    assert "(default: None)" not in text and "(default:" not in text
    for action in parser._actions:
        if action.dest == "help":
            continue
        name = (action.option_strings or [action.dest])[0]
        help_text = " ".join(action.help.split())
        assert help_text[0].isupper(), f"{name}: {help_text!r} does not start a sentence"
        assert help_text.endswith("."), f"{name}: {help_text!r} does not end a sentence"
        assert help_text.count("Default:") <= 1, f"{name} states its default twice"
    if command != "train":
        return
    train = parser
    # every config flag states its default, as the reader would type it
    lambda_help = next(a.help for a in train._actions if a.dest == "lambda_entropy")
    assert lambda_help.endswith("Default: 0.01.")
    bf16_help = next(a.help for a in train._actions if a.dest == "bf16")
    assert bf16_help.endswith("Default: on.")


def test_paper_recipes_replicate_the_authors_code() -> None:
    for name in (n for n in RECIPES if n.startswith("paper-")):
        cfg = config_from_args(build_parser().parse_args(["train", "--recipe", name]))
        assert (cfg.bf16, cfg.orth_scaling, cfg.contribution_signal) == (False, "authors", "train"), name
        assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.lr_min, cfg.seed) == (150, 128, 0.08, 0.006, 2222), name
    # bf16 stays an explicit option
    assert config_from_args(build_parser().parse_args(["train", "--recipe", "paper-cifar10", "--bf16"])).bf16
