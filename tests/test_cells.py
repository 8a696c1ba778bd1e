"""The Gap page's first section: static against each learnable start on the digits and the digit pairs, grouped by
seed, and the sentence built from the runs (where learnable wins, where it loses, why)."""

from __future__ import annotations

import plotly.graph_objects as go
from test_compare import record

from ffviz import records
from ffviz.comparison import ComparedRun, gap_label
from ffviz.config import RunConfig, start_words
from ffviz.figures.cells import cells_figure, cells_of, cells_sentence, start_name


def run(dataset: str, acc: float, seed: int, **cfg) -> ComparedRun:
    config = RunConfig(dataset=dataset, seed=seed, **cfg)
    test = records.TestRecord(epoch=1, acc_alpha=acc, acc_sum=acc, acc_last=acc, acc_best_layer=acc, best_layer=0,
                      layer_acc=[acc])
    return ComparedRun(label=f"{dataset} {seed}", epochs=[record(0, 1.0), record(1, acc)], config=config, test=test)


def cell(dataset: str, static: list[float], paper: list[float], noisy: list[float]) -> list[ComparedRun]:
    return ([run(dataset, a, s + 1, mode="static") for s, a in enumerate(static)]
            + [run(dataset, a, s + 1) for s, a in enumerate(paper)]
            + [run(dataset, a, s + 1, init_noise=0.5) for s, a in enumerate(noisy)])


def test_the_start_is_named_wherever_a_run_is() -> None:
    assert start_words(RunConfig()) == "paper's start" and start_words(RunConfig(mode="static")) == ""
    cfg = RunConfig(init_noise=0.5, init_partition=2.0, learn_temperature=False, temperature=1.0)
    assert start_words(cfg) == "random A 0.5 · A from partition 2 · fixed T 1"
    assert gap_label(ComparedRun(label="x", epochs=[], config=cfg)).startswith("learnable (CAW-Conv), random A 0.5")


def test_cells_group_each_start_over_seeds_and_the_sentence_says_where_learnable_loses_and_why() -> None:
    runs = cell("digits", [99.0, 99.2, 99.1], [98.0, 98.3, 98.1], [99.0, 99.1, 99.3]) + cell(
        "digit-pairs-100", [75.0, 77.0, 76.0], [1.0, 2.0, 1.0], [48.0, 49.0, 50.0])
    cells = cells_of(runs)
    assert [c.dataset for c in cells] == ["digits", "digit-pairs-100"]
    assert [start_name(g) for g in cells[1].groups] == ["static", "paper's start", "random A 0.5"]
    assert all(len(g.runs) == 3 for c in cells for g in c.groups)
    text = cells_sentence(cells)
    assert "digit pairs, 100 classes" in text and "paper's start 1.3 ± 0.6% (chance)" in text
    assert "never beats the fixed blocks beyond the seeds' spread" in text
    assert "random A 0.5 on digits" in text  # the best figure reached, named
    assert "stays at chance on 100 classes" in text and "W starts uniform" in text
    fig = go.Figure(cells_figure(cells).to_dict())  # validates
    assert len(fig.data) == 4 and fig.layout.xaxis2.domain[0] > fig.layout.xaxis.domain[1]


def test_a_start_that_beats_static_beyond_the_spread_is_said_to_pay() -> None:
    runs = cell("digit-pairs-25", [80.0, 81.0, 79.0], [4.0, 4.0, 4.0], [90.0, 91.0, 89.5])
    text = cells_sentence(cells_of(runs))
    assert "A learned assignment pays on digit pairs, 25 classes" in text and "random A 0.5: +10.2" in text


def test_the_shipped_cells_sentence_agrees_with_home_train_and_the_readme() -> None:
    """The Gap page builds its sentence from the shipped runs; Home, Train's card and the README say STORY: the
    verdict must be the same (no start beats the fixed blocks beyond the seeds' spread, or one does)."""
    from pathlib import Path

    import pytest

    from ffviz.seed_groups import STORY, TEASER
    from ffviz.store.runs import RunReader

    repo = Path(__file__).resolve().parents[1]
    dirs = [d for d in (repo / "assets" / "runs").iterdir() if (d / "config.json").exists()]
    runs = [ComparedRun.of(RunReader(d)) for d in dirs]
    cells = cells_of(runs)
    if len(cells) < 3:
        pytest.skip("the shipped cells are not in assets/runs (bash assets/runs/make_shipped_runs.sh)")
    text = cells_sentence(cells)
    wins = "A learned assignment pays" in text
    assert ("never beats the fixed channel blocks" in STORY) is not wins, (text, STORY)
    readme = (repo / "README.md").read_text()
    assert STORY in readme.replace("\n", " ")
    assert "seed_groups import STORY" in (repo / "pages" / "home.py").read_text()
    assert "TEASER" in (repo / "pages" / "common" / "frame" / "widgets.py").read_text() and "digit pairs" in TEASER
