"""Sweeps: a spec's cells and its checks; slots claimed for a class experiment (distinct, kept by their holder,
freed after the lease); a 2x2 sweep over 2 seeds of a tiny preset finishes from the CLI, its runs are tagged, and the
Sweep page shows every cell filled in; a sweep started from the page trains through the server's manager; two
sessions that open a class link get different cells."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest
from test_authors import plotly_array

from ffviz.cli import main
from ffviz.config import RunConfig
from ffviz.figures.sweep import RunOutcome, summarize_cells, sweep_heatmap
from ffviz.runner.sweep_spec import SweepError, SweepSpec, parse_axis, parse_seeds
from ffviz.runner.sweep_store import Sweep, list_sweeps, outcomes
from ffviz.store.runs import RunReader
from ffviz.store.storage import read_json
from pages.common.frame.links import decode

REPO = Path(__file__).resolve().parents[1]
TINY = ["--preset", "classroom-mini", "--epochs", "1", "--image-size", "8", "--batch-size", "128", "--probe-size",
        "8", "--device", "cpu"]
TINY_CFG = RunConfig(preset="classroom-mini", epochs=1, image_size=8, batch_size=128, probe_size=8, device="cpu")


def spec(**changes) -> SweepSpec:
    values = dict(base=TINY_CFG, axes=(parse_axis("lambda_entropy=0,0.01"), parse_axis("lambda_orth=0,0.1")),
                  seeds=(1, 2), name="t")
    return SweepSpec(**{**values, **changes})


def test_spec_cells_and_checks():
    s = spec()
    assert s.cells() == [{"lambda_entropy": 0.0, "lambda_orth": 0.0}, {"lambda_entropy": 0.0, "lambda_orth": 0.1},
                         {"lambda_entropy": 0.01, "lambda_orth": 0.0}, {"lambda_entropy": 0.01, "lambda_orth": 0.1}]
    assert s.num_runs == 8 and s.config(3, 2).seed == 2 and s.config(3, 2).lambda_orth == 0.1
    assert SweepSpec.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    for bad, message in [(dict(axes=(parse_axis("lambda_entropyy=0,1"),)), "not a setting"),
                         (dict(axes=(parse_axis("seed=1,2"),)), "use --seeds"),
                         (dict(axes=(parse_axis("lambda_entropy=0,-1"),)), r"lambda_entropy=-1.0 must be in \[0"),
                         (dict(axes=(parse_axis("lambda_entropy=0,0.0"),)), "listed twice"),
                         (dict(axes=(parse_axis("lr=0.1,0.2"),) * 2), "swept once"),
                         (dict(max_runs=4), "at most 4"),
                         (dict(axes=(parse_axis("lr=0.001,0.1"),)), "lr_min=0.006 must not exceed lr=0.001")]:
        with pytest.raises(SweepError, match=message):
            spec(**bad)
    with pytest.raises(SweepError, match="FIELD=V1,V2"):
        parse_axis("lambda_entropy")
    with pytest.raises(SweepError, match="none twice"):
        parse_seeds("1,1")


def test_claims_are_distinct_kept_and_lapse(tmp_path):
    sweep = Sweep.create(tmp_path, spec(), kind="class")
    a = sweep.claim("alice", now=100.0)
    b = sweep.claim("bob", now=100.0)
    assert (a.cell, a.seed) == (0, 1) and (b.cell, b.seed) == (1, 1)  # every cell once before any second seed
    assert sweep.claim("alice", now=130.0) == Sweep.open(sweep.dir).held_by("alice")  # the same slot, renewed
    assert sweep.claim("alice", now=130.0).cell == 0
    # bob left without training: after the lease his cell goes to the next student; alice, still here, keeps hers
    sweep.renew("alice", now=250.0)
    carol = sweep.claim("carol", now=100.0 + 200.0, lease=90.0)
    assert (carol.cell, carol.seed) == (1, 1)
    # a slot whose run is recorded is never handed out again while the run exists and has not ended badly
    sweep.assign(0, 1, "some-run")
    (tmp_path / "some-run").mkdir()
    (tmp_path / "some-run" / "meta.json").write_text(json.dumps({"status": "finished"}))
    taken = {(s.cell, s.seed) for s in [sweep.claim(f"s{i}", now=10_000.0) for i in range(10)] if s}
    assert (0, 1) not in taken and len(taken) == 7  # 8 slots, one finished


def test_concurrent_claims_never_collide(tmp_path):
    sweep = Sweep.create(tmp_path, spec(), kind="class")
    got: list = []
    barrier = threading.Barrier(10)

    def student(i: int) -> None:
        barrier.wait()
        got.append(Sweep.open(sweep.dir).claim(f"student-{i}"))

    threads = [threading.Thread(target=student, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots = [(s.cell, s.seed) for s in got if s is not None]
    assert len(slots) == 8 == len(set(slots)) and got.count(None) == 2


def test_heatmap_fills_in_with_mean_and_spread():
    done = [RunOutcome("finished", 1, 90.0, 0.5, 0.1, None), RunOutcome("finished", 1, 94.0, 0.7, 0.3, 1)]
    cells = summarize_cells(4, {0: done, 3: [RunOutcome("running", 0, None, None, None, None)]})
    axes = spec().axes
    fig = sweep_heatmap(axes, cells, "accuracy", seeds=2)
    for metric in ("accuracy", "sharpness", "orthogonality", "epochs_to"):
        go.Figure(sweep_heatmap(axes, cells, metric, seeds=2).to_dict())  # Plotly's own validation
    go.Figure(sweep_heatmap(axes[:1], cells[:2], "accuracy", seeds=2).to_dict())  # one swept setting: one row
    z = fig.data[0].z
    assert z[0][0] == pytest.approx(92.0) and z[1][1] is None and z[0][1] is None
    assert "92.0 ± 2.8" in fig.data[0].text[0][0] and "2/2 seeds" in fig.data[0].text[0][0]
    assert fig.data[0].text[1][1] == "training…" and fig.data[0].text[0][1] == "waiting"
    assert sweep_heatmap(axes, cells, "epochs_to", seeds=2).data[0].z[0][0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="valid metrics"):
        sweep_heatmap(axes, cells, "speed", seeds=2)


@pytest.fixture(scope="module")
def cli_sweep(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("sweep_runs")
    code = main(["sweep", "--grid", "lambda_entropy=0,0.01", "--grid", "lambda_orth=0,0.1", "--seeds", "1,2",
                 "--runs-dir", str(runs), "--name", "tiny", *TINY])
    assert code == 0
    return runs


def test_a_2x2_sweep_over_2_seeds_finishes_from_the_cli(cli_sweep):
    [sweep] = list_sweeps(cli_sweep)
    slots = sweep.slots()
    assert len(slots) == 8 and all(sweep.run_state(s.run_id) == "finished" for s in slots)
    for s in slots:
        meta = read_json(cli_sweep / s.run_id / "meta.json")
        assert meta["sweep"] == sweep.id and meta["cell"] == sweep.spec.cells()[s.cell] and meta["seed"] == s.seed
        cfg = RunReader(cli_sweep / s.run_id).config
        assert (cfg.lambda_entropy, cfg.lambda_orth, cfg.seed) == (*sweep.spec.cells()[s.cell].values(), s.seed)
    assert sorted(len(v) for v in outcomes(sweep).values()) == [2, 2, 2, 2]


def test_the_sweep_page_shows_every_cell(cli_sweep, monkeypatch):
    monkeypatch.setenv("FFVIZ_RUNS_DIR", str(cli_sweep))
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180).run()
    at.switch_page("pages/sweep.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("8 of 8 runs finished" in m.value for m in at.markdown)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 4
    for chart in charts[:3]:  # accuracy, sharpness, orthogonality: every cell has a value
        z = plotly_array(chart["data"][0]["z"]) if isinstance(chart["data"][0]["z"], dict) else \
            np.asarray(chart["data"][0]["z"], dtype=float)
        assert z.shape == (2, 2) and np.isfinite(z).all(), chart["layout"]["title"]
    assert all("2/2 seeds" in t for row in charts[0]["data"][0]["text"] for t in row)
    # the picker opens a cell's run on every view page
    [sweep] = list_sweeps(cli_sweep)
    run_id = sweep.slots()[3].run_id
    at.selectbox(key=f"sweep_run_{sweep.id}").set_value(run_id).run()
    at.button(key="sweep_open").click().run()
    assert at.session_state["run"] == run_id
    at.switch_page("pages/assignments.py").run()
    assert not at.exception and any(run_id in m.value for m in at.markdown)


def test_a_sweep_started_from_the_page_and_a_class_link(runs):
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180).run()
    at.switch_page("pages/sweep.py").run()
    assert not at.exception
    at.selectbox(key="sweep_preset").set_value("classroom-mini")
    at.number_input(key="sweep_epochs").set_value(1)
    at.selectbox(key="sweep_f1").set_value("lambda_entropy")
    at.text_input(key="sweep_v1").set_value("0, 0.1")
    at.selectbox(key="sweep_f2").set_value("(none)")
    at.text_input(key="sweep_seeds").set_value("1")
    next(b for b in at.button if "Start every run now" in b.label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    [sweep] = list_sweeps(runs)
    assert sweep.kind == "launched" and all(s.run_id for s in sweep.slots())
    from pages.common.frame import state

    manager = state._manager(str(runs))
    for s in sweep.slots():
        assert manager.wait(s.run_id, timeout=240)
    assert all(sweep.run_state(s.run_id) == "finished" for s in sweep.slots())
    # a class experiment: two sessions opening its link get different cells
    at.text_input(key="sweep_seeds").set_value("1, 2")
    next(b for b in at.button if "Make a class link" in b.label).click().run()
    assert not at.exception
    klass = next(s for s in list_sweeps(runs) if s.kind == "class")
    assert any(f"sweep={klass.id}&join=1" in c.value for c in at.code)
    cells = []
    for _ in range(2):
        student = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
        student.query_params["sweep"] = klass.id
        student.query_params["join"] = "1"
        student.switch_page("pages/sweep.py").run()  # as the link opens it
        assert not student.exception, [e.value for e in student.exception]
        cells.append(next(m.value for m in student.markdown if m.value.startswith("Your cell")))
        assert not any("not used" in w.value for w in student.warning)  # sweep= and join= are the page's own keys
        assert not any(f.label and "Rows: setting" in f.label for f in student.selectbox)  # no sweep form for them
    assert cells[0] != cells[1]
    assert len([s for s in klass.slots() if s.claimed_by]) == 2


def test_a_class_link_decodes_without_notes():
    link, notes = decode({"page": "sweep", "sweep": "20261127-120000-class", "join": "1"})
    assert link.page == "sweep" and notes == []
