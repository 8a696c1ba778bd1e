"""RunConfig: METHOD.md's recipe as defaults, validation that names the bad field, plain-data round trips."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ffviz.config import RunConfig, field_info
from ffviz.method.model.build import goodness_spec


def test_defaults_are_methods_recipe() -> None:
    cfg = RunConfig()
    assert cfg.lr == 0.08
    assert cfg.lr_min == 0.006
    assert cfg.weight_decay == 5e-4
    assert cfg.grad_clip == 1.0
    assert cfg.dropout == 0.1
    assert cfg.seed == 2222
    assert cfg.lambda_entropy == 1e-2
    assert cfg.lambda_orth == 1e-3
    assert cfg.temperature == 10.0
    assert cfg.temp_decay == 0.995
    assert (cfg.temp_min, cfg.temp_max) == (0.1, 100.0)
    assert (cfg.good_mean, cfg.good_max, cfg.good_min) == (0.94, 0.06, 0.05)
    assert cfg.label_smoothing == 0.1
    assert cfg.orth_warmup_epochs == 50
    assert cfg.contribution_tau == 1.0
    assert cfg.contribution_signal == "train"  # the authors' code; "val" is the abstract's reading
    assert cfg.mode == "learnable"
    assert cfg.orth_scaling in ("mean", "authors")


def test_goodness_spec_follows_config() -> None:
    spec = goodness_spec(RunConfig(good_mean=0.97, good_max=0.03, good_min=0.03, temperature=5.0, temp_decay=0.99))
    assert (spec.mean, spec.max, spec.min, spec.temperature, spec.temp_decay) == (0.97, 0.03, 0.03, 5.0, 0.99)
    assert (spec.temp_min, spec.temp_max) == (0.1, 100.0)


def test_round_trip() -> None:
    cfg = RunConfig(widths=(20, 40), mode="static", lambda_orth=0.5, orth_scaling="authors", bf16=False,
                    contribution_signal="val", epochs=3)
    d = cfg.to_dict()
    assert d["widths"] == [20, 40]
    assert RunConfig.from_dict(d) == cfg
    assert RunConfig.from_dict(json.loads(json.dumps(d))) == cfg
    assert RunConfig.from_dict(RunConfig().to_dict()) == RunConfig()
    assert set(d) == {f.name for f in field_info()}


def test_unknown_key_is_named() -> None:
    with pytest.raises(ValueError, match="bogus_knob"):
        RunConfig.from_dict({"lr": 0.01, "bogus_knob": 3})


@pytest.mark.parametrize("field,value,choices", [
    ("mode", "foo", ("learnable", "static", "backprop")),
    ("orth_scaling", "sum", ("mean", "authors")),
    ("contribution_signal", "test", ("train", "val")),
])
def test_bad_choice_lists_valid_ones(field: str, value: str, choices: tuple[str, ...]) -> None:
    for make in (lambda: RunConfig(**{field: value}), lambda: RunConfig.from_dict({field: value})):
        with pytest.raises(ValueError) as err:
            make()
        msg = str(err.value)
        assert field in msg and value in msg
        for c in choices:
            assert c in msg


@pytest.mark.parametrize("field", ["lambda_entropy", "lambda_orth", "weight_decay", "lr_min", "orth_warmup_epochs"])
def test_negative_raises(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RunConfig(**{field: -1})
    with pytest.raises(ValueError, match=field):
        RunConfig.from_dict({field: "-0.5" if field != "orth_warmup_epochs" else "-1"})


@pytest.mark.parametrize("field,value", [("lr", 0.0), ("temperature", 0.0), ("epochs", 0), ("dropout", 1.0),
                                         ("label_smoothing", -0.1), ("contribution_tau", 0.0)])
def test_out_of_range_raises(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RunConfig(**{field: value})


def test_lambda_zero_is_allowed() -> None:
    cfg = RunConfig(lambda_entropy=0.0, lambda_orth=0.0, orth_warmup_epochs=0)
    assert cfg.lambda_entropy == 0.0 and cfg.lambda_orth == 0.0


def test_string_coercion() -> None:
    cfg = RunConfig.from_dict({"dropout": "0.5", "widths": "20,40", "bf16": "true", "compile": "false",
                               "epochs": "7", "lambda_orth": "1e-2", "mode": "static"})
    assert cfg.dropout == 0.5 and isinstance(cfg.dropout, float)
    assert cfg.widths == (20, 40) and isinstance(cfg.widths, tuple)
    assert cfg.bf16 is True and cfg.compile is False
    assert cfg.epochs == 7 and isinstance(cfg.epochs, int)
    assert cfg.lambda_orth == 0.01
    assert RunConfig.from_dict({"widths": " 20, 40 ,80"}).widths == (20, 40, 80)
    assert RunConfig.from_dict({"widths": [20, 40]}).widths == (20, 40)
    assert RunConfig.from_dict({"bf16": "no"}).bf16 is False


@pytest.mark.parametrize("field,value", [("lr", "fast"), ("epochs", "2.5"), ("epochs", 2.5), ("bf16", "maybe"),
                                         ("widths", "20,abc"), ("lr", "nan")])
def test_bad_string_names_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        RunConfig.from_dict({field: value})


def test_diff_returns_only_differing_fields() -> None:
    a = RunConfig()
    b = a.replace(lr=0.05, widths=(20, 40), mode="static")
    d = a.diff(b)
    assert set(d) == {"lr", "widths", "mode"}
    assert d["lr"] == (0.08, 0.05)
    assert d["mode"] == ("learnable", "static")
    assert tuple(d["widths"][1]) == (20, 40)
    assert a.diff(a) == {}
    assert b.diff(a)["lr"] == (0.05, 0.08)


def test_frozen_and_replace_validates() -> None:
    cfg = RunConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="mode"):
        cfg.replace(mode="foo")


def test_the_classroom_recipes_orthogonality_warm_up_scales_with_the_run() -> None:
    """A third of the run, as the paper's 50 of 150 epochs: at the last of 10 epochs the term acts at full weight
    (the paper's fixed 50 left it at 18%); a setting of its own still wins, and the paper recipes keep 50."""
    from ffviz.cli import build_parser, config_from_args
    from ffviz.recipes import recipe_config
    from ffviz.regularizers import orth_warmup

    cfg = recipe_config("classroom")
    assert cfg.epochs == 10 and cfg.orth_warmup_epochs == 3
    assert recipe_config("classroom", epochs=30).orth_warmup_epochs == 10
    assert recipe_config("classroom", orth_warmup_epochs=7).orth_warmup_epochs == 7
    assert recipe_config("paper-cifar10").orth_warmup_epochs == 50
    args = build_parser().parse_args(["train", "--recipe", "classroom", "--epochs", "20"])
    assert config_from_args(args).orth_warmup_epochs == 7
    assert orth_warmup(9, cfg.orth_warmup_epochs) == 1.0 and orth_warmup(9, 50) == 0.18
