"""Runs that differ only by seed read as one (ffviz/seed_groups.py, ffviz/figures/seeds.py): the grouping, the
mean and spread, the sentence, the charts' bars, whiskers and dots, the published figures, and the shipped set:
the four modes of the lineage at three seeds each of one shape."""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

import pytest
from test_compare import made, valid

from ffviz import modes
from ffviz.comparison import ComparedRun
from ffviz.figures.seeds import published_figure, seed_bar_figure, seed_layer_figure
from ffviz.seed_groups import (
    PUBLISHED,
    gap_sentence,
    group_by_seed,
    group_rows,
    mean_sd,
    shape_key,
    vote_on_test,
)
from ffviz.store.runs import RunReader

SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "runs"


def seeded(label: str, acc: float, seed: int, mode: str = "learnable", **changes) -> ComparedRun:
    r = made(label, [10, acc], mode=mode)
    return dataclasses.replace(r, config=r.config.replace(seed=seed, **changes))


def test_runs_that_differ_only_by_seed_are_one_group() -> None:
    a1, a2 = seeded("a", 90, 1), seeded("a2", 94, 2, device="cpu", probe_size=20)  # record-keeping fields ignored
    b = seeded("b", 80, 1, lambda_entropy=0.0)
    s1, s2, s3 = (seeded("s", v, k, mode="static") for k, v in ((3, 97), (1, 95), (2, 96)))
    groups = group_by_seed([a1, b, s1, a2, s2, s3])
    assert [len(g.runs) for g in groups] == [2, 1, 3] and [g.mode for g in groups] == ["learnable"] * 2 + ["static"]
    assert groups[2].seeds == [1, 2, 3] and groups[0].label == "a (2 seeds)" and groups[1].label == "b"
    assert shape_key(a1.config) == shape_key(a2.config) != shape_key(b.config)
    assert groups[2].mean_sd(vote_on_test) == pytest.approx((96.0, 1.0))
    assert mean_sd([5.0]) == (5.0, 0.0) and all(v != v for v in mean_sd([]))


def test_the_sentence_says_what_the_runs_show_and_why() -> None:
    static = [seeded("s", v, k, mode="static") for k, v in ((1, 99), (2, 98), (3, 99))]
    behind = [seeded("l", v, k) for k, v in ((1, 97), (2, 98), (3, 97))]
    text = gap_sentence(group_by_seed(static + behind))
    assert text.startswith("On these runs (digits default×default, the classroom network, 20 epochs; 3 seeds")
    assert "static partition 98.7 ± 0.6%" in text and "W starts uniform" in text
    ahead = [seeded("l", v, k) for k, v in ((1, 99.9), (2, 99.8), (3, 99.9))]
    assert "beats the fixed blocks" in gap_sentence(group_by_seed(static + ahead))
    assert "No finished runs" in gap_sentence([])
    rows = group_rows(group_by_seed(static), 95, lambda r: 1, lambda r: 2.0)
    assert rows[0]["test acc % (mean ± sd)"] == "98.67 ± 0.58" and rows[0]["seeds"] == "1,2,3"


def test_a_group_is_one_bar_at_the_mean_with_its_spread_and_a_dot_per_seed() -> None:
    runs = [seeded("s", v, k, mode="static") for k, v in ((1, 95), (2, 96), (3, 97))] + [seeded("l", 90, 1)]
    fig = valid(seed_bar_figure(group_by_seed(runs), vote_on_test, title="t"))
    bars, dots = fig.data
    assert list(bars.x) == ["static partition<br>3 seeds · <b>96.0 ± 1.0</b>",
                            "learnable (CAW-Conv)<br>1 seed · <b>90.0 ± 0.0</b>"]
    assert list(bars.y) == [96.0, 90.0] and list(bars.error_y.array) == [1.0, 0.0]
    assert list(dots.y) == [95, 96, 97, 90] and list(dots.text) == ["seed 1", "seed 2", "seed 3", "seed 1"]
    layers = valid(seed_layer_figure(group_by_seed(runs)))
    assert len(layers.data) == 2 and list(layers.data[0].error_y.array) == pytest.approx([1.0] * 3)
    empty = valid(seed_bar_figure(group_by_seed([made("u", [10, 50], test=False)]), vote_on_test, title="t"))
    assert empty.layout.annotations[0].text == "No finished run yet"


def test_the_published_figures_are_labelled_with_their_network_and_epochs() -> None:
    fig = valid(published_figure())
    assert "Published" in fig.layout.title.text and "not measured here" in fig.layout.title.text
    texts = list(fig.data[0].text)
    assert texts[-1] == "published 89.37%" and fig.data[0].y[-1] == "<b>CAW-Conv (2026)</b><br>ResNet-17<br>150 epochs"
    assert [p.cifar10 for p in PUBLISHED] == [59.00, 78.11, 86.22, 89.37]  # METHOD.md's table
    assert all(t.startswith("published ") for t in texts)


def test_the_shipped_runs_hold_the_lineage_at_three_seeds_of_one_shape() -> None:
    dirs = [d for d in SHIPPED.iterdir() if (d / "config.json").exists()] if SHIPPED.is_dir() else []
    if not dirs:
        pytest.skip("the shipped runs are not in assets/runs (bash assets/runs/make_shipped_runs.sh)")
    groups = group_by_seed([ComparedRun.of(RunReader(d)) for d in dirs])
    full = {g.mode: g for g in groups if len(g.runs) >= 3}
    assert set(full) == set(modes.lineage())
    shapes = {tuple(kv for kv in shape_key(g.config) if kv[0] != "mode") for g in full.values()}
    assert len(shapes) == 1  # one shape: the same settings for every mode but the mode
    for g in full.values():
        assert g.seeds == [1, 2, 3] and all(r.test is not None for r in g.runs)
        assert statistics.mean(g.values(vote_on_test)) > 80
    size = sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file())
    assert size < 25e6, f"the shipped runs take {size / 1e6:.1f} MB"
