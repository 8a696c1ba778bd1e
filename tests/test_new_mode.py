"""Adding a training mode, as a newcomer would, touches two package files: its entry in the registry, ffviz/modes.py,
and its model file (how it builds its network and counts its parameters), plus this test.

The test copies the ffviz package to a temporary folder, makes the newcomer's edit there (one entry, one new file,
nothing else), and in a fresh interpreter whose PYTHONPATH is the copy checks that the new mode flows everywhere on
its own: the config's Mode field and the CLI's ``--mode``, a run trained by the CLI and its records read back, the
limits' parameter count (equal to the network it builds), the Runs table's row, the Compare figures' label and
colour, the seed groups' label, the Train page's Mode choice and the Gap page's picker for it, drawn by the app.
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------------- the newcomer's edit
# ffviz/modes.py: one entry, last in the registry
ENTRY = '''    "toy": Mode("toy (no dropout)", "the learnable CAW-Conv network without dropout",
                "ffviz.method.model.toy:build", "ffviz.method.model.toy:parameters", short="toy", color="#9467BD"),
'''
REGISTRY_LINE = "MODES: dict[str, Mode] = {\n"
# ffviz/method/model/toy.py: its network, and the arithmetic of its parameters that the server's limits count
MODEL_FILE = '''"""The toy mode's network: the learnable CAW-Conv network, without dropout."""

from typing import Any

from ffviz.method.architecture import parameter_count
from ffviz.method.model.build import goodness_spec
from ffviz.method.model.network import FFNet


def build(cfg: Any, *, in_channels: int, num_classes: int, image_size: int, widths: tuple[int, ...]) -> FFNet:
    return FFNet(in_channels=in_channels, num_classes=num_classes, widths=widths, learnable=True, dropout=0.0,
                 spec=goodness_spec(cfg), image_size=image_size)


def parameters(*, in_channels: int, num_classes: int, image_size: int, widths: tuple[int, ...]) -> int:
    return parameter_count(in_channels=in_channels, num_classes=num_classes, widths=widths)
'''
NEW_FILE = "method/model/toy.py"


def newcomer_edit(pkg: Path) -> None:
    reg = pkg / "modes.py"
    text = reg.read_text()
    assert text.count(REGISTRY_LINE) == 1, "the registry's opening line moved: update this test's anchor"
    start = text.index(REGISTRY_LINE)
    end = text.index("\n}\n", start) + 1  # the registry's closing brace: the new entry goes last
    reg.write_text(text[:end] + ENTRY + text[end:])
    (pkg / NEW_FILE).write_text(MODEL_FILE)


# ------------------------------------------------------------------------ checks, run against the copy
SCRIPT = r'''
import os, subprocess, sys, tempfile
from pathlib import Path

import ffviz
from ffviz.config import RunConfig

assert Path(ffviz.__file__).parent == Path(sys.argv[1]), ffviz.__file__  # the copy, not the original
TMP = Path(tempfile.mkdtemp())
RUNS = TMP / "runs"
os.environ["FFVIZ_RUNS_DIR"] = str(RUNS)
os.environ["FFVIZ_SHIPPED_DIR"] = str(TMP / "shipped")  # none: the Gap page sees the runs trained here
FLAGS = ["--preset", "classroom-mini", "--epochs", "1", "--batch-size", "256", "--image-size", "8", "--probe-size",
         "8", "--device", "cpu", "--no-progress", "--runs-dir", str(RUNS)]
FOUND = {}


def check_registered():
    from ffviz import config, modes
    from ffviz.config import field_info

    assert list(modes.MODES)[-1] == "toy" and modes.lineage()[-1] == "toy"
    assert "toy" in config.MODES and RunConfig(mode="toy").mode == "toy"
    info = {f.name: f for f in field_info()}["mode"]
    assert "toy" in info.metadata["choices"] and info.metadata["choice_labels"]["toy"] == "toy (no dropout)"


def check_the_cli_trains_it_and_the_records_say_so():
    from ffviz.cli import main
    from ffviz.store.runs import list_runs, open_reader

    usage = subprocess.run([sys.executable, "-m", "ffviz", "train", "--help"], capture_output=True, text=True,
                           check=True).stdout
    assert "original-ff,toy}" in usage and "toy: the learnable" in " ".join(usage.split()), usage
    for mode in ("toy", "learnable"):
        assert main(["train", "--mode", mode, *FLAGS]) == 0
    runs = {open_reader(d).config.mode: d for d in list_runs(RUNS)}
    reader = open_reader(runs["toy"])
    assert runs["toy"].name.split("-")[2] == "toy"  # the folder's name: <time>-<mode>-<preset>
    assert reader.config.mode == "toy" and reader.config.dropout == 0.1  # the mode, not the config, drops dropout
    assert [e.epoch for e in reader.epochs] == [0, 1] and reader.test is not None and reader.meta["num_parameters"]
    FOUND.update(runs)


def check_the_limits_count_its_network():
    import torch

    from ffviz.method.model import build_network
    from ffviz.server.limits import Limits, check_run, count_parameters

    cfg = RunConfig(mode="toy", preset="classroom-mini", image_size=8)
    net = build_network(cfg, in_channels=1, num_classes=10, image_size=8)
    assert all(not isinstance(m, torch.nn.Dropout) or m.p == 0 for m in net.modules())
    assert count_parameters(cfg) == sum(p.numel() for p in net.parameters())
    check_run(cfg, Limits())


def check_the_runs_table_compare_and_seed_groups_name_it():
    from ffviz.comparison import ComparedRun, gap_label
    from ffviz.figures.compare import epochs_to_reach_figure
    from ffviz.figures.seeds import seed_bar_figure
    from ffviz.seed_groups import group_by_seed, group_rows, vote_on_test
    from ffviz.store.catalog import summarize
    from ffviz.store.runs import open_reader

    assert summarize(FOUND["toy"], "local").as_row()["mode"] == "toy"
    runs = [ComparedRun.of(open_reader(FOUND[m])) for m in ("learnable", "toy")]
    assert gap_label(runs[1]) == "toy (no dropout)"
    bars = epochs_to_reach_figure(runs, 50).data[0]
    assert list(bars.x) == ["learnable", "toy"] and list(bars.marker.color) == ["#1F77B4", "#9467BD"]
    groups = group_by_seed(runs)
    assert [r["how it learns"] for r in group_rows(groups, 50, lambda r: None, lambda r: None)] == [
        "learnable (CAW-Conv)", "toy (no dropout)"]
    assert any("toy (no dropout)" in x for x in seed_bar_figure(groups, vote_on_test, title="t").data[0].x)


def check_the_train_and_gap_pages_offer_it():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(sys.argv[1]).parent / "streamlit_app.py"), default_timeout=180)
    at.session_state["run"] = FOUND["toy"].name
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    mode = at.selectbox(key="cfg_mode")
    assert "toy (no dropout)" in mode.options, mode.options
    at.switch_page("pages/gap.py").run()
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="gap_toy")
    assert picker.label == "toy (no dropout)" and picker.value == FOUND["toy"].name
    assert at.selectbox(key="gap_learnable").value == FOUND["learnable"].name


CHECKS = [check_registered, check_the_cli_trains_it_and_the_records_say_so, check_the_limits_count_its_network,
          check_the_runs_table_compare_and_seed_groups_name_it, check_the_train_and_gap_pages_offer_it]

for check in CHECKS:
    check()
    print("ok", check.__name__, flush=True)
print("all ok")
'''


def package_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*.py") if "__pycache__" not in p.parts}


def test_a_new_mode_is_one_registry_entry_and_one_model_file(tmp_path: Path) -> None:
    copy = tmp_path / "ffviz"
    shutil.copytree(ROOT / "ffviz", copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "pages", tmp_path / "pages", ignore=shutil.ignore_patterns("__pycache__"))  # untouched
    shutil.copytree(ROOT / "assets", tmp_path / "assets", ignore=shutil.ignore_patterns("runs"))  # the pages' pictures
    shutil.copy(ROOT / "streamlit_app.py", tmp_path / "streamlit_app.py")
    newcomer_edit(copy)

    # one file more (the model file), and of the package's own files only the registry changed
    original = package_files(ROOT / "ffviz")
    assert package_files(copy) == original | {NEW_FILE}
    changed = sorted(f for f in original if not filecmp.cmp(ROOT / "ffviz" / f, copy / f, shallow=False))
    assert changed == ["modes.py"]

    done = subprocess.run([sys.executable, "-c", SCRIPT, str(copy)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin",
                                            "OMP_NUM_THREADS": "1", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all ok" in done.stdout
