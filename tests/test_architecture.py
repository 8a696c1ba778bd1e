"""The torch-free arithmetic of the residual pattern (what the server's limits count) equals the network
ffviz/method/model
builds: the same parameter count for every preset and mode, and the same refusals."""

from __future__ import annotations

import pytest
import torch

from ffviz.config import RunConfig
from ffviz.method.architecture import parameter_count, validate_widths
from ffviz.method.model import build_network, count_parameters
from ffviz.presets import PRESETS
from ffviz.server.limits import count_parameters as counted_by_limits


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("mode", ["learnable", "static", "backprop"])
def test_parameter_count_equals_the_built_network(preset, mode):
    cfg = RunConfig(preset=preset, mode=mode, dataset="digits", image_size=16, channels=3)
    widths = PRESETS[preset].widths
    if 16 % 2 ** (len(widths) - 1):
        cfg = cfg.replace(image_size=32)
    with torch.device("meta"):
        net = build_network(cfg, in_channels=3, num_classes=10, image_size=cfg.image_size)
    built = count_parameters(net)
    assert parameter_count(in_channels=3, num_classes=10, widths=widths, learnable=mode != "static") == built
    assert counted_by_limits(cfg) == built


def test_resnet17_on_cifar10_has_the_papers_size():
    assert round(parameter_count(in_channels=3, num_classes=10, widths=(100, 200, 400, 800)) / 1e6, 1) == 30.7


@pytest.mark.parametrize(("widths", "size", "rule"), [((20, 30), 16, "twice as wide"), ((15, 30), 16, "evenly"),
                                                      ((20, 40, 80), 6, "divisible by 4"), ((), 8, "at least one")])
def test_widths_that_cannot_form_the_pattern_are_refused(widths, size, rule):
    with pytest.raises(ValueError, match=rule):
        validate_widths(widths, 10, size)


def test_checking_a_run_against_the_limits_imports_no_torch():
    """The server checks every Start against its limits: that must not load torch into it (ffviz/store/runstate.py's
    process model keeps the server light)."""
    import subprocess
    import sys

    probe = ("import sys\nfrom ffviz.server.limits import Limits, check_run\nfrom ffviz.recipes import recipe_config\n"
             "check_run(recipe_config('classroom'), Limits())\ncheck_run(recipe_config('paper-cifar10'), Limits())\n"
             "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False", out.stderr
