"""The assignment's starts: the paper's (constant A, learnable T) by default, and three labelled departures from it,
each a RunConfig field that reaches the network and a real run from the command line."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ffviz.cli import main
from ffviz.config import FIELDS, RunConfig
from ffviz.method.model import build_network
from ffviz.method.model.layer import GoodnessSpec, initial_a, static_assignment

STARTS = ("init_noise", "init_partition", "learn_temperature")


def test_the_default_is_the_papers_start() -> None:
    cfg = RunConfig()
    assert (cfg.init_noise, cfg.init_partition, cfg.learn_temperature) == (0.0, 0.0, True)
    net = build_network(cfg, in_channels=1, num_classes=10, image_size=8)
    for layer in net.layers:
        assert torch.all(layer.A == 0.5) and layer.log_T.requires_grad
        assert torch.allclose(layer.assignment(), torch.full_like(layer.assignment(), 0.1))


def test_each_start_says_it_departs_from_the_paper() -> None:
    for name in STARTS:
        meta = FIELDS[name].metadata
        assert meta["group"] == "assignment start" and meta["label"] and "paper" in meta["help"]


def test_random_a_has_its_scale_in_logits_whatever_t0() -> None:
    torch.manual_seed(0)
    a = initial_a(200, 50, GoodnessSpec(temperature=10.0, init_noise=0.5))
    logits = (a - 0.5) / 10.0
    assert abs(logits.std().item() - 0.5) < 0.01 and abs(logits.mean().item()) < 0.01


def test_partition_start_lifts_each_channels_own_block_by_its_strength() -> None:
    spec = GoodnessSpec(temperature=0.3, init_partition=2.0)
    a = initial_a(20, 10, spec)
    own = static_assignment(20, 10) > 0
    assert torch.allclose((a[own] - a[~own].mean()) / 0.3, torch.full((20,), 2.0))
    w = torch.softmax(a / 0.3, dim=1)
    assert torch.allclose(w[own], torch.full((20,), math.e ** 2 / (math.e ** 2 + 9)), atol=1e-5)


def test_a_fixed_temperature_does_not_move_while_a_learnable_one_does() -> None:
    for learn in (True, False):
        cfg = RunConfig(preset="classroom-mini", learn_temperature=learn, init_noise=0.5)
        torch.manual_seed(0)
        net = build_network(cfg, in_channels=1, num_classes=10, image_size=8)
        opt = torch.optim.AdamW(net.parameters(), lr=0.08)
        x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
        loss = sum(torch.nn.functional.cross_entropy(o.g, y) for o in net(x))
        loss.backward()
        opt.step()
        moved = abs(net.layers[0].log_T.item() - math.log(10.0)) > 1e-4
        assert moved is learn


@pytest.mark.parametrize("flags, field, value", [
    ([], "init_noise", 0.0),
    (["--init-noise", "0.5"], "init_noise", 0.5),
    (["--init-partition", "2"], "init_partition", 2.0),
    (["--no-learn-temperature", "--temperature", "1"], "learn_temperature", False),
])
def test_a_tiny_pairs_run_with_each_start_runs_from_the_command_line(flags, field, value, tmp_path, capsys) -> None:
    code = main(["train", "--dataset", "digit-pairs-25", "--mode", "learnable", "--widths", "25,50", "--image-size",
                 "8", "--epochs", "1", "--batch-size", "256", "--probe-size", "8", "--runs-dir", str(tmp_path),
                 "--no-progress", "--threads", "1", *flags])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = tmp_path / summary["run"].split("/")[-1]
    cfg = json.loads((run / "config.json").read_text())
    assert summary["status"] == "finished" and cfg[field] == value and cfg["dataset"] == "digit-pairs-25"
    epochs = [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines()]
    assert len(epochs[-1]["w_entropy"]) == 9 and all(0 <= h <= 1 for h in epochs[-1]["w_entropy"])


def test_the_starts_sweep_and_travel_in_links() -> None:
    from ffviz.recipes import recipe_config
    from ffviz.runner.sweep_spec import SweepSpec, parse_axis

    spec = SweepSpec(base=recipe_config("classroom"), seeds=(1, 2),
                     axes=(parse_axis("init_noise=0,0.5"), parse_axis("learn_temperature=true,false")))
    configs = [spec.config(c, 1) for c in range(len(spec.cells()))]
    assert [(c.init_noise, c.learn_temperature) for c in configs] == [(0.0, True), (0.0, False), (0.5, True),
                                                                      (0.5, False)]
    from pages.common.frame.links import ShareState, config_changes, decode, encode

    state = ShareState(page="train", config=config_changes(RunConfig(init_partition=2.0, learn_temperature=False)))
    back, notes = decode(encode(state))
    assert back == state and notes == [] and encode(state)["init_partition"] in ("2", "2.0")
