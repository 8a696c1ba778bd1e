"""A newcomer adds a setting with one line in ffviz/config.py and nothing else: the CLI gains its flag, the Train page
shows it in its group under its label, a share link carries and clamps it, and the live controls offer it.

The line is inserted into a copy of the package and the pages, and each consumer is asked in a fresh interpreter, so
that nothing here can stand in for the code that reads RunConfig directly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ANCHOR = "    orth_scaling: str = _f("
LINE = ('    lambda_toy: float = _f(0.0, "Weight of the toy term.", label="λ_toy", group="regularizers", '
        'range=(0.0, 10.0), live=True)\n')

APP = r"""
import json, sys
from streamlit.testing.v1 import AppTest

at = AppTest.from_file("streamlit_app.py", default_timeout=240).run()
at.switch_page("pages/train.py").run()
assert not at.exception, [e.value for e in at.exception]
toy = at.select_slider(key="cfg_lambda_toy")
print(json.dumps({"label": toy.label, "value": toy.value, "help": toy.help}))
"""

PROBE = r"""
import json
from ffviz.config import RunConfig, LIVE_FIELDS
from ffviz.method.control import RunControl
from ffviz.figures.style import LIVE_NAMES
from pages.common.train.fields import slider_options, train_groups
from pages.common.frame.links import ShareState, config_changes, decode, encode
from pages.common.share.share_ui import CONTROL_LABELS

state = ShareState(page="train", config=config_changes(RunConfig(lambda_toy=0.3)))
back, notes = decode(encode(state))
clamped, clamp_notes = decode({"lambda_toy": "50"})
control = RunControl()
control.set(lambda_toy=0.5)
try:
    RunConfig(lambda_toy=-1.0)
    refused = ""
except ValueError as e:
    refused = str(e)
print(json.dumps({
    "round_trip": back == state and back.config.get("lambda_toy") == 0.3 and notes == [],
    "param": encode(state).get("lambda_toy"),
    "clamped": clamped.config.get("lambda_toy"), "clamp_notes": clamp_notes,
    "groups": {title: list(names) for title, names in train_groups()},
    "live": "lambda_toy" in LIVE_FIELDS, "live_name": LIVE_NAMES.get("lambda_toy"),
    "options": slider_options("lambda_toy", 0.0), "changes": control.take_changes(),
    "control_label": CONTROL_LABELS.get("lambda_toy"), "refused": refused,
}))
"""


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The package and the pages, with one line added to RunConfig."""
    root = tmp_path_factory.mktemp("newcomer")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "ffviz", root / "ffviz", ignore=ignore)
    shutil.copytree(REPO / "pages", root / "pages", ignore=ignore)
    shutil.copy(REPO / "streamlit_app.py", root / "streamlit_app.py")
    config = root / "ffviz" / "config.py"
    text = config.read_text()
    assert text.count(ANCHOR) == 1
    config.write_text(text.replace(ANCHOR, LINE + ANCHOR))
    return root


def _run(copy: Path, *args: str) -> str:
    env = {"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin", "HOME": str(copy), "FFVIZ_RUNS_DIR": str(copy / "runs")}
    proc = subprocess.run([sys.executable, *args], cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_the_cli_gains_the_flag(copy) -> None:
    text = _run(copy, "-m", "ffviz", "train", "--help")
    assert "--lambda-toy" in text and "Weight of the toy term." in text


def test_the_train_page_the_link_and_the_live_controls_pick_it_up(copy) -> None:
    out = json.loads(_run(copy, "-c", PROBE).strip().splitlines()[-1])
    assert out["round_trip"] and out["param"] == "0.3"
    assert out["clamped"] == 10.0 and out["clamp_notes"] == ["lambda_toy=50.0 is out of range (0.0 to 10.0); using "
                                                             "10.0."]
    assert "lambda_toy" in out["groups"]["Regularizers"]
    assert out["live"] and out["live_name"] == "λ_toy" and out["control_label"] == "λ_toy"
    assert out["options"][0] == 0.0 and out["options"][-1] == 10.0 and len(out["options"]) > 5
    assert out["changes"] == {"lambda_toy": 0.5}
    assert "lambda_toy=-1.0" in out["refused"] and "[0.0, 10.0]" in out["refused"]


def test_the_train_page_draws_its_live_slider_with_its_label(copy) -> None:
    out = json.loads(_run(copy, "-c", APP).strip().splitlines()[-1])
    assert out["label"] == "λ_toy" and out["value"] == 0.0
    assert out["help"].startswith("Weight of the toy term.") and "next batch" in out["help"]
