"""A folder of logs from a real run of the authors' code, opened in ffviz: the Assignments page's W at epoch 10
against their weights file (and, given --truth, against the W their model held when it wrote that file), and the
Train page's curves. Prints what it measured; exits 1 on a mismatch.

    python bench/authors_logs_check.py /tmp/authors_run/<their results folder> --dataset digits \
        [--truth /tmp/authors_run/truth]     # w_epoch10.npz: their layers' current_weights, saved by the driver

Their files are never committed: the folder is one their ResNet_CIFAR10.py wrote, run unmodified from a scratch
folder outside this repository (see the report). The page checks run the real pages under Streamlit's AppTest.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def decode(v) -> np.ndarray:
    """A Plotly array as sent to the browser: a list, or {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape([int(x) for x in str(v.get("shape", len(a))).split(",")])
    return np.asarray(v, dtype=float)


def heatmap_w(spec: dict) -> np.ndarray:
    """W in channel order from the Assignments heatmap's Plotly spec (rows in display order, customdata: channel)."""
    t = next(tr for tr in spec["data"] if tr.get("type") == "heatmap")
    z, order = decode(t["z"]).astype(float), decode(t["customdata"])[:, 0].astype(int)
    w = np.empty_like(z)
    w[order] = z
    return w


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--dataset", default=None)
    ap.add_argument("--truth", type=Path, default=None)
    ap.add_argument("--epoch", type=int, default=10)
    args = ap.parse_args()
    from streamlit.testing.v1 import AppTest

    from ffviz.interop.authors_weights import read_weights
    from ffviz.store.runs import RunReader

    ok = True
    runs = Path(tempfile.mkdtemp(prefix="ffviz-authors-logs-"))
    cmd = [sys.executable, "-m", "ffviz", "import-logs", str(args.folder), "--runs-dir", str(runs)]
    if args.dataset:
        cmd += ["--dataset", args.dataset]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    print(done.stdout.strip() or done.stderr.strip())
    if done.returncode:
        return 1
    run_dir = Path(json.loads(done.stdout.strip().splitlines()[-1])["run"])
    theirs, shapes, _ = read_weights(args.folder / "all_epochs_layer_weights.txt")
    live = RunReader(run_dir)
    print(f"epochs {[e.epoch for e in live.epochs][0]}..{live.epochs[-1].epoch}, W at {live.view_epochs}, "
          f"{len(shapes)} layers")
    ep = args.epoch
    worst_file = max(float(np.abs(live.snapshot(ep).w[i] - theirs[ep][i]).max()) for i in range(len(shapes)))
    print(f"run's W at epoch {ep} vs their file: max |diff| = {worst_file:.2e} over {len(shapes)} layers")
    ok &= worst_file < 1e-6
    if args.truth:
        with np.load(args.truth / f"w_epoch{ep}.npz") as a:
            truth = [a[f"arr_{i}"] for i in range(len(shapes))]
        worst_truth = max(float(np.abs(live.snapshot(ep).w[i] - truth[i]).max()) for i in range(len(shapes)))
        print(f"run's W at epoch {ep} vs their model's W when it wrote the file: max |diff| = {worst_truth:.2e} "
              f"(their file rounds to 4 decimals)")
        ok &= worst_truth <= 5.1e-5
    os.environ["FFVIZ_RUNS_DIR"] = str(runs)
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180).run()
    at.switch_page("pages/assignments.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.select_slider(key="asg_epoch").set_value(ep).run()
    diff = 0.0
    for layer in range(len(shapes)):
        at.selectbox(key="asg_layer").set_value(layer).run()
        drawn = heatmap_w(json.loads(at.get("plotly_chart")[0].proto.spec))
        diff = max(diff, float(np.abs(drawn - theirs[ep][layer]).max()))
        ok &= not at.exception
    ok &= diff < 1e-6
    print(f"Assignments page, epoch {ep}, every layer's heatmap vs their file: max |diff| {diff:.2e}; "
          f"exceptions {len(at.exception)}")
    at.switch_page("pages/train.py").run()
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [c["layout"]["title"]["text"] for c in charts]
    points = [sum(int(np.isfinite(decode(t["y"]).astype(float)).sum()) for t in c["data"] if t.get("y") is not None)
              for c in charts]
    print(f"Train page: {len(charts)} charts {titles}, points drawn {points}; exceptions {len(at.exception)}")
    ok &= len(charts) >= 2 and all(p > 0 for p in points) and not at.exception
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
