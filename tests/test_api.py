"""Figures outside the app: ffviz.open_run gives the pages' own figures (the Assignments page's heatmap is the same
figure), every named figure builds and validates, bad names and epochs say what is valid; a layer's W over the
epochs becomes an animated GIF, from the API and from the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image
from run_support import finished_tiny_run
from streamlit.testing.v1 import AppTest

import ffviz
from ffviz.api import FIGURES
from ffviz.cli import main
from ffviz.store.runs import RunReader

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "assets" / "runs").glob("*learnable-default-lambdas"))[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return finished_tiny_run(tmp_path_factory.mktemp("api"), epochs=3, batch_size=128, probe_size=12)


def test_the_readme_example_on_a_shipped_run():
    run = ffviz.open_run(SHIPPED)
    fig = run.figure("assignments", layer=4, epoch=10)
    assert fig.layout.title.text == "Assignment W of layer 4 at epoch 10"
    np.testing.assert_allclose(np.sort(np.asarray(fig.data[0].z).ravel()),
                               np.sort(RunReader(SHIPPED).snapshot(10).w[4].ravel()), rtol=1e-6)
    assert "learnable classroom" in repr(run)


def test_every_figure_builds_and_validates(run_dir):
    run = ffviz.open_run(run_dir)
    for name in FIGURES:
        fig = run.figure(name, layer=1, epoch=2, channel=3)
        go.Figure(fig.to_dict())  # Plotly's own validation: the builders skip it for speed
    with pytest.raises(ValueError, match="valid figures: loss, layer_accuracy, assignments"):
        run.figure("assignment")
    with pytest.raises(ValueError, match="recorded epochs: 0..3"):
        run.figure("gram", epoch=7)
    with pytest.raises(ValueError, match="layers 0..8"):
        run.figure("pca", layer=9)


def test_same_figure_as_the_assignments_page(run_dir, monkeypatch):
    monkeypatch.setenv("FFVIZ_RUNS_DIR", str(run_dir.parent))
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180).run()
    at.switch_page("pages/assignments.py").run()
    at.select_slider(key="asg_epoch").set_value(2).run()
    at.selectbox(key="asg_layer").set_value(3).run()
    assert not at.exception
    page = json.loads(at.get("plotly_chart")[0].proto.spec)
    ours = json.loads(ffviz.open_run(run_dir).figure("assignments", layer=3, epoch=2).to_json())
    assert page["data"] == ours["data"]
    assert page["layout"]["title"] == ours["layout"]["title"]
    assert any("(.gif)" in b.proto.label for b in at.get("download_button"))  # the page exports the same W as a GIF


def test_gif_of_a_layer(run_dir, tmp_path):
    run = ffviz.open_run(run_dir)
    gif = Image.open(io.BytesIO(run.gif(layer=2, fps=4)))
    assert gif.format == "GIF" and gif.n_frames == 4  # epochs 0..3
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB")))
    assert not np.array_equal(frames[0], frames[-1])  # W moved from its uniform start
    out = tmp_path / "w.gif"
    assert main(["gif", str(run_dir), "--layer", "2", "--out", str(out)]) == 0
    assert Image.open(out).n_frames == 4
    with pytest.raises(SystemExit):
        main(["gif", str(tmp_path / "nowhere")])
