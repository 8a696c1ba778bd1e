"""How long a run will take: measured on a run of the same shape in this machine's runs folder, else stated."""

from __future__ import annotations

import json

from ffviz.recipes import recipe_config
from ffviz.server.estimate import START_SECONDS, expected_seconds


def _run(root, name: str, config: dict, records: list[dict]) -> None:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config))
    (d / "epochs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_run_of_the_same_shape_sets_the_estimate(tmp_path):
    cfg = recipe_config("classroom")
    assert expected_seconds(cfg, [tmp_path]) is None
    stated = expected_seconds(cfg, [tmp_path], stated=15.0)
    assert (stated.seconds, stated.measured) == (15.0, False)
    # same shape, other λs and seed: 2 s per epoch here
    _run(tmp_path, "20260101-000000-a", cfg.replace(lambda_entropy=0.0, seed=9).to_dict(),
         [{"epoch": 0, "time": 0.1}, {"epoch": 1, "time": 2.0}, {"epoch": 2, "time": 4.0}])
    # another shape, newer: not used
    _run(tmp_path, "20260101-000001-b", cfg.replace(batch_size=128).to_dict(), [{"epoch": 1, "time": 0.5}])
    est = expected_seconds(cfg, [tmp_path], stated=15.0)
    assert est.measured and est.run_id == "20260101-000000-a"
    assert est.seconds == START_SECONDS + 2.0 * cfg.epochs


def test_unreadable_runs_are_passed_over(tmp_path):
    cfg = recipe_config("classroom")
    _run(tmp_path, "20260101-000002-torn", cfg.to_dict(), [{"epoch": 0, "time": 0.0}])  # no trained epoch yet
    (tmp_path / "20260101-000003-bad").mkdir()
    (tmp_path / "20260101-000003-bad" / "config.json").write_text("[1, 2")
    _run(tmp_path, "20260101-000004-types", cfg.to_dict(), [{"epoch": "3", "time": None}])
    (tmp_path / "stray-file").write_text("x")
    assert expected_seconds(cfg, [tmp_path, tmp_path / "missing"], stated=7.0).measured is False
