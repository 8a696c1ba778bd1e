"""Adding a regularizer, as a newcomer would, touches three files: its function and its registry entry in
ffviz/regularizers.py, its weight field in ffviz/config.py, and this test.

The test copies the ffviz package to a temporary folder, makes the newcomer's edit there (two package files, nothing
else), and in a fresh interpreter whose PYTHONPATH is the copy checks that the new term flows everywhere on its own:
training (the loss and the gradients change with its weight), the epoch records (the term per layer, raw and
weighted, its λ and its schedule by name), the run folder read back, the Runs table's column, the Regularizers
figure, the Regularizers page and the run header drawn by the app, the Sweep page's axes and a sweep over its
weight, the change flags, and the CLI flag, the share link, the live controls and the Train page's group for its
weight (tests/test_new_field.py draws that page's live slider with such a field).
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------------- the newcomer's edit
# ffviz/regularizers.py: one function, above the registry, and one entry in it
TERM = '''
def toy(w: Any, channels: Any) -> Any:
    """T(W) = Σ_c Σ_k W_ck²: large while W is spread, (L,) per layer."""
    return (w * w).sum((-2, -1))


'''
ENTRY = '''    "toy": Regularizer(toy, weight_field="lambda_toy", symbol="T(W)", description="a toy term"),
'''
REGISTRY_LINE = "REGULARIZERS: dict[str, Regularizer] = {\n"
# ffviz/config.py: its weight, one line among the other regularizers' settings, with the facts the app reads
FIELD = ('    lambda_toy: float = _f(0.0, "Weight of the toy penalty on W.", label="λ_toy", group="regularizers", '
         'range=(0.0, 10.0), live=True)\n')
FIELD_BEFORE = "    orth_scaling: str = _f("


def newcomer_edit(pkg: Path) -> None:
    reg = pkg / "regularizers.py"
    text = reg.read_text()
    assert text.count(REGISTRY_LINE) == 1, "the registry's opening line moved: update this test's anchor"
    start = text.index(REGISTRY_LINE)
    end = text.index("\n}\n", start) + 1  # the registry's closing brace: the new entry goes last
    reg.write_text(text[:start] + TERM + text[start:end] + ENTRY + text[end:])
    cfg = pkg / "config.py"
    lines = cfg.read_text().splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.startswith(FIELD_BEFORE)]
    assert len(at) == 1, "orth_scaling's field moved: update this test's anchor"
    lines.insert(at[0], FIELD)
    cfg.write_text("".join(lines))


# ------------------------------------------------------------------------ checks, run against the copy
SCRIPT = r'''
import json, sys, tempfile
from pathlib import Path

import numpy as np
import torch

import ffviz
from ffviz.config import RunConfig
from ffviz.data import load_dataset
from ffviz.figures.regularizers import regularizer_figure
from ffviz.regularizers import REGULARIZERS, get_regularizer
from ffviz.store.runs import RunReader, new_run_dir
from ffviz.runner.run_writer import RunWriter
from ffviz.method.trainer import Trainer

assert Path(ffviz.__file__).parent == Path(sys.argv[1]), ffviz.__file__  # the copy, not the original
TMP = Path(tempfile.mkdtemp())
DATA = load_dataset("digits", image_size=8)
LAMBDA = 0.05


def tiny(**changes):
    return RunConfig(**{**dict(preset="classroom-mini", epochs=2, batch_size=256, image_size=8, probe_size=8,
                               device="cpu", orth_warmup_epochs=0), **changes})


def train(name, **changes):
    cfg = tiny(**changes)
    run_dir = new_run_dir(TMP / name, cfg)
    trainer = Trainer(cfg, data=DATA, callbacks=[RunWriter(run_dir)])
    assert trainer.fit() == "finished", trainer.error
    return trainer, RunReader(run_dir)


RUNS = {}


def check_registered():
    assert get_regularizer("toy").weight_field == "lambda_toy"
    assert list(REGULARIZERS) == ["entropy", "orth", "toy"]
    assert RunConfig().lambda_toy == 0.0


def check_training_changes_with_its_weight():
    RUNS["off"] = train("off", lambda_toy=0.0)
    RUNS["on"] = train("on", lambda_toy=LAMBDA)
    off, on = RUNS["off"][1].epochs[-1], RUNS["on"][1].epochs[-1]
    assert on.train_loss != off.train_loss
    # one step's gradients differ (same seed, data and dropout masks): only the toy term differs. A uniform W (the
    # initial one) gets no gradient from a term that treats the classes alike, so A is drawn at random first.
    grads = {}
    for key, lam in (("off", 0.0), ("on", LAMBDA)):
        tr = Trainer(tiny(lambda_toy=lam), data=DATA)
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for layer in tr.model.layers:
                layer.A.copy_(torch.randn(layer.A.shape, generator=gen))
        tr.model.train()
        tr.optimizer.zero_grad()
        x, y = DATA.train_x[:64], DATA.train_y[:64]
        lambdas = torch.tensor([getattr(tr.cfg, r.weight_field) for r in REGULARIZERS.values()])
        tr._losses(x, y, lambdas).loss.backward()
        grads[key] = {name: p.grad.clone() for name, p in tr.model.layers[0].named_parameters()}
    assert not torch.allclose(grads["off"]["A"], grads["on"]["A"])
    # the conv's gradient is the cross-entropy's alone
    torch.testing.assert_close(grads["off"]["conv.weight"], grads["on"]["conv.weight"])
    # and the weights it trained differ
    w_off = RUNS["off"][0].model.layers[2].A
    w_on = RUNS["on"][0].model.layers[2].A
    assert not torch.allclose(w_off, w_on)


def check_records_carry_it_per_layer():
    trainer, reader = RUNS["on"]
    layers = trainer.model.num_layers
    for e in reader.epochs[1:]:  # read back from the run folder
        assert len(e.train_terms["toy"]) == layers and len(e.train_terms_w["toy"]) == layers
        assert all(v > 0 for v in e.train_terms["toy"])
        np.testing.assert_allclose(e.train_terms_w["toy"], [LAMBDA * v for v in e.train_terms["toy"]], rtol=1e-6)
    assert reader.epochs[0].train_terms is None  # epoch 0: no training yet
    # its weight and its schedule's factor, by name, in every epoch record (epoch 0 included)
    assert all(e.lambdas["toy"] == LAMBDA and e.schedules["toy"] == 1.0 for e in reader.epochs)
    assert reader.config.lambda_toy == LAMBDA and reader.test is not None
    assert len(reader.snapshot(reader.epochs[-1].epoch).w) == layers
    assert all(v == 0 for v in RUNS["off"][1].epochs[-1].train_terms_w["toy"])


def check_regularizers_figure_shows_it():
    reader = RUNS["on"][1]
    fig = regularizer_figure(reader.epochs, 1, reader.events)
    names = [t.name for t in fig.data]
    assert any("T(W)" in n and "in the loss" in n for n in names), names
    assert any(n == "T(W) raw" for n in names), names
    raw = next(t for t in fig.data if t.name == "T(W) raw")
    assert list(raw.y) == [e.train_terms["toy"][1] for e in reader.epochs[1:]]


def check_the_cli_the_link_and_the_live_controls_offer_its_weight():
    import subprocess

    from ffviz.config import LIVE_FIELDS
    from pages.common.train.fields import train_groups
    from pages.common.frame.links import ShareState, config_changes, decode, encode

    usage = subprocess.run([sys.executable, "-m", "ffviz", "train", "--help"], capture_output=True, text=True,
                           check=True).stdout
    assert "--lambda-toy" in usage, usage
    state = ShareState(page="train", config=config_changes(RunConfig(lambda_toy=0.3)))
    assert decode(encode(state)) == (state, [])
    assert "lambda_toy" in LIVE_FIELDS
    assert "lambda_toy" in dict(train_groups())["Regularizers"]


def check_the_runs_table_has_its_column():
    from ffviz.store.catalog import summarize

    row = summarize(RUNS["on"][1].dir, "local").as_row()
    assert row["λ toy"] == LAMBDA and row["λ entropy"] == RunConfig().lambda_entropy, row
    assert summarize(RUNS["off"][1].dir, "local").as_row()["λ toy"] == 0.0


def check_the_sweep_grid_and_the_change_flags_offer_it():
    from ffviz.figures.style import _short
    from ffviz.runner.sweep_spec import SweepSpec, parse_axis
    from pages.common.sweep.sweep_start import SWEEPABLE

    assert "lambda_toy" in SWEEPABLE  # the Sweep page's axes
    spec = SweepSpec(base=tiny(), axes=(parse_axis("lambda_toy=0,0.1"),), seeds=(1,))
    assert [spec.config(i, 1).lambda_toy for i in range(len(spec.cells()))] == [0.0, 0.1]
    assert _short({"lambda_toy": [0.0, 0.1]}) == "λt=0.1"  # the flag a live change leaves on the charts


def check_the_regularizers_page_and_the_run_header_show_it():
    import os

    from streamlit.testing.v1 import AppTest

    reader = RUNS["on"][1]
    os.environ["FFVIZ_RUNS_DIR"] = str(reader.dir.parent)
    at = AppTest.from_file(str(Path(sys.argv[1]).parent / "streamlit_app.py"), default_timeout=180)
    at.session_state["run"] = reader.dir.name
    at.run()
    at.switch_page("pages/regularizers.py").run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(str(m.value) for m in [*at.markdown, *at.caption])
    assert f"λ_toy {LAMBDA:g}" in text, text  # the run header
    assert f"λ_toy = {LAMBDA:g}" in text and "T(W) a toy term" in text, text  # the page's explanation


CHECKS = [check_registered, check_training_changes_with_its_weight, check_records_carry_it_per_layer,
          check_regularizers_figure_shows_it, check_the_cli_the_link_and_the_live_controls_offer_its_weight,
          check_the_runs_table_has_its_column, check_the_sweep_grid_and_the_change_flags_offer_it,
          check_the_regularizers_page_and_the_run_header_show_it]

for check in CHECKS:
    check()
    print("ok", check.__name__, flush=True)
print("all ok")
'''


def package_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*.py") if "__pycache__" not in p.parts}


def test_a_new_regularizer_is_one_function_one_entry_and_one_config_field(tmp_path: Path) -> None:
    copy = tmp_path / "ffviz"
    shutil.copytree(ROOT / "ffviz", copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "pages", tmp_path / "pages", ignore=shutil.ignore_patterns("__pycache__"))  # untouched
    shutil.copytree(ROOT / "assets", tmp_path / "assets", ignore=shutil.ignore_patterns("runs"))  # the pages' pictures
    shutil.copy(ROOT / "streamlit_app.py", tmp_path / "streamlit_app.py")
    newcomer_edit(copy)

    # only the two package files changed
    original = package_files(ROOT / "ffviz")
    assert package_files(copy) == original
    changed = sorted(f for f in original if not filecmp.cmp(ROOT / "ffviz" / f, copy / f, shallow=False))
    assert changed == ["config.py", "regularizers.py"]

    done = subprocess.run([sys.executable, "-c", SCRIPT, str(copy)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin",
                                            "OMP_NUM_THREADS": "1", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all ok" in done.stdout
