"""Checkpoints from the authors' CAW-Conv ResNet scripts: a state_dict in their key layout (names written here from
their published layout, with random weights) is checked, mapped onto ffviz's network, evaluated on digits and
written as a run; ffviz's logits from it equal a forward pass written out by hand from the authors' maths; the run
opens on the Assignments page with the right W; a file that is not such a state_dict is refused with a message."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from ffviz.cli import main
from ffviz.config import RunConfig
from ffviz.data import load_dataset
from ffviz.interop.authors_checkpoint import AuthorsCheckpointError, authors_layout, import_authors, read_authors_file
from ffviz.method.evaluate import collect_goodness
from ffviz.method.model import build_network
from ffviz.store.checkpoint import load_checkpoint
from ffviz.store.runs import RunReader

REPO = Path(__file__).resolve().parents[1]
WIDTHS = (10, 20)  # 9 layers: the classroom-mini pattern
K, CIN = 10, 1
EPOCH = 4  # their checkpoint's 0-based epoch: the temperature decays by 0.995^4


def authors_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights under the authors' names: layers.{i}.conv.weight / class_channel_weights / log_temperature."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    cins = [CIN, WIDTHS[0], WIDTHS[0], WIDTHS[0], WIDTHS[0], 2 * WIDTHS[0], WIDTHS[1], WIDTHS[1], WIDTHS[1]]
    for i, cin in enumerate(cins):
        c = WIDTHS[0] if i < 5 else WIDTHS[1]
        sd[f"layers.{i}.conv.weight"] = torch.randn(c, cin, 3, 3, generator=g) * math.sqrt(2 / (9 * cin))
        sd[f"layers.{i}.class_channel_weights"] = torch.randn(c, K, generator=g)
        sd[f"layers.{i}.log_temperature"] = torch.tensor(math.log(0.5 + i / 4))
    sd["start_layer"] = torch.tensor(1, dtype=torch.int)
    sd["end_layer"] = torch.tensor(8, dtype=torch.int)
    return sd


def plotly_array(v) -> np.ndarray:
    """An array as a figure's JSON holds it: a list, or Plotly's typed form {dtype, bdata (base64), shape}."""
    if isinstance(v, dict):
        shape = tuple(int(n) for n in str(v.get("shape", "-1")).split(","))
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).reshape(shape).astype(float)
    return np.asarray(v, dtype=float)


def hand_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, epoch: int) -> list[torch.Tensor]:
    """The authors' network written out plainly, in eval mode: every layer's class goodness (N, K)."""
    x = F.layer_norm(x, x.shape[1:])
    shortcut = None
    out = []
    for i in range(9):
        stride = 2 if i == 5 else 1
        y = torch.relu(F.conv2d(x, sd[f"layers.{i}.conv.weight"], stride=stride, padding=1))
        p = 0.94 * y.mean(dim=(2, 3)) + 0.06 * y.amax(dim=(2, 3)) - 0.05 * y.amin(dim=(2, 3))
        t = sd[f"layers.{i}.log_temperature"].exp().clamp(0.1, 100) * 0.995 ** epoch
        w = torch.softmax(sd[f"layers.{i}.class_channel_weights"] / t, dim=1)
        out.append(p @ w)
        x = F.instance_norm(y)
        if i == 0:
            shortcut = x
        elif i in (2, 6):  # add, then the sum is the next shortcut
            x = x + shortcut
            shortcut = x
        elif i == 4:  # concat (width doubles), pooled shortcut
            x = torch.cat([x, shortcut], dim=1)
            shortcut = F.avg_pool2d(x, 2)
    return out


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """Their checkpoint dict (epoch, model_state_dict, optimizer states) saved with torch.save, then imported."""
    tmp = tmp_path_factory.mktemp("authors")
    sd = authors_state_dict()
    path = tmp / "checkpoint.pth"
    torch.save({"epoch": EPOCH, "model_state_dict": sd, "optimizer_state_dict": [{"state": {}, "param_groups": []}]},
               path)
    run_dir = import_authors(path, tmp / "runs", dataset="digits")
    return run_dir, sd


def test_logits_equal_a_hand_written_forward(imported):
    run_dir, sd = imported
    ck = load_checkpoint(run_dir / "checkpoints" / "final.pt")
    cfg = RunConfig.from_dict(ck["config"])
    assert cfg.preset == "classroom-mini" and cfg.mode == "learnable" and cfg.epochs == EPOCH + 1
    data = load_dataset("digits", image_size=cfg.image_size or None, channels=1)
    model = build_network(cfg, in_channels=1, num_classes=K, image_size=data.image_size)
    model.load_state_dict(ck["model"])
    x = data.val_x[:64]
    ours = collect_goodness(model, x, batch_size=64, device=torch.device("cpu")).g  # (L, N, K)
    theirs = hand_forward(sd, x, EPOCH)
    for layer, g in enumerate(theirs):
        torch.testing.assert_close(ours[layer], g, rtol=1e-4, atol=1e-5, msg=f"layer {layer}")
    # and the records: one epoch, every layer's W as their softmax at that epoch, α from validation
    reader = RunReader(run_dir)
    assert [e.epoch for e in reader.epochs] == [EPOCH + 1]
    w = reader.snapshot(EPOCH + 1).w
    for i in range(9):
        t = math.exp(sd[f"layers.{i}.log_temperature"].item()) * 0.995 ** EPOCH
        expected = torch.softmax(sd[f"layers.{i}.class_channel_weights"] / t, dim=1).numpy()
        np.testing.assert_allclose(w[i], expected, rtol=1e-5, atol=1e-6)
    e = reader.epochs[0]
    assert len(e.val_acc) == 9 and abs(sum(e.alpha) - 1) < 1e-5 and len(set(e.alpha)) > 1
    assert reader.test is not None and reader.meta["status"] == "finished"
    assert reader.meta["authors_layer_range"] == [1, 8]


def test_it_opens_on_the_assignments_page_with_the_right_w(imported, monkeypatch):
    run_dir, sd = imported
    monkeypatch.setenv("FFVIZ_RUNS_DIR", str(run_dir.parent))
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180).run()
    assert at.session_state["run"] == run_dir.name
    at.switch_page("pages/assignments.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="asg_order").set_value("channel number").run()
    at.selectbox(key="asg_layer").set_value(6).run()
    assert not at.exception
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    t = math.exp(sd["layers.6.log_temperature"].item()) * 0.995 ** EPOCH
    expected = torch.softmax(sd["layers.6.class_channel_weights"] / t, dim=1).numpy()
    np.testing.assert_allclose(plotly_array(heat["z"]), expected, rtol=1e-5, atol=1e-6)
    for page in ("pages/regularizers.py", "pages/goodness.py", "pages/contributions.py", "pages/train.py"):
        at.switch_page(page).run()
        assert not at.exception, f"{page}: {[e.value for e in at.exception]}"


def test_the_cli_imports_and_refuses_what_is_not_theirs(tmp_path, capsys):
    path = tmp_path / "bare.pt"
    torch.save(authors_state_dict(seed=1), path)  # a bare state_dict: no epoch, so no decay unless told
    assert main(["import", str(path), "--dataset", "digits", "--runs-dir", str(tmp_path / "runs"),
                 "--trained-epochs", "3"]) == 0
    out = capsys.readouterr().out
    run = json.loads(out.strip().splitlines()[-1])["run"]
    assert RunReader(run).epochs[0].epoch == 3

    bad = authors_state_dict()
    bad["layers.3.class_channel_weights"] = torch.zeros(10, 7)
    torch.save(bad, path)
    with pytest.raises(SystemExit):
        main(["import", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert "layers.3.class_channel_weights has shape (10, 7)" in capsys.readouterr().err
    assert len(list((tmp_path / "runs").iterdir())) == 1  # nothing written for the refused file


@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.update({"layers.0.conv.bias": torch.zeros(10)}), "bias"),
    (lambda sd: [sd.pop(k) for k in list(sd) if "class_channel" in k], "static-partition"),
    (lambda sd: sd.update({"fc.weight": torch.zeros(2, 2)}), "unexpected key 'fc.weight'"),
    (lambda sd: sd.pop("layers.8.conv.weight"), "layers.8"),
])
def test_layout_checks_name_the_problem(change, message):
    sd = authors_state_dict()
    change(sd)
    with pytest.raises(AuthorsCheckpointError, match=message):
        authors_layout(sd)


def test_wrong_dataset_and_non_tensor_files_are_refused(tmp_path):
    path = tmp_path / "x.pth"
    torch.save(authors_state_dict(), path)
    with pytest.raises(AuthorsCheckpointError, match="3 input channels"):
        import_authors(path, tmp_path / "runs", dataset="digits", data=load_dataset("digits", channels=3))
    with pytest.raises(AuthorsCheckpointError, match="not a readable PyTorch file"):
        read_authors_file(b"not a checkpoint", name="junk.pth")
