"""The load test's harness at a small size, as a test: concurrent sessions against a real `streamlit run` server on
loopback, some training (more than the server's two slots, so runs queue; each run a process of its own) and the
rest browsing, in two waves.
No request may fail, every run must finish, a queued run's page must show its position, and after each wave the
server must be back to the threads it had (closed tabs, finished runs leave none behind). bench/load_test.py at full
size (30 sessions) writes the figures to bench/REPORT.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sessions_training_and_browsing_at_once(tmp_path) -> None:
    out = tmp_path / "load.json"
    cmd = [sys.executable, "bench/load_test.py", "--sessions", "6", "--trainers", "3", "--duration", "15",
           "--epochs", "3", "--waves", "2", "--max-running", "2", "--json", str(out), "--no-report"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    f = json.loads(out.read_text())
    assert f["failures"] == [] and f["server_tracebacks"] == 0
    assert f["page_loads"] >= 12 and f["fragment_reruns"] > 0  # pages were loaded and live charts reran
    assert f["statuses"] == ["finished"] * 6  # three runs per wave, each trained to its end
    assert f["limit"] == 2 and f["max_running"] <= 2, "never more runs training than the server's slots"
    assert 1 in f["positions"], "a run beyond the slots waited, and its page said its place in the queue"
    assert all(c > 0 for c in f["runs_cores"]), "the runs trained in processes of their own, not in the server"
    # after each wave the server is back to its threads (give or take one or two of Streamlit's own), and neither
    # threads nor memory climb wave after wave
    assert f["threads_end"][0] <= f["threads_start"] + 2 and f["threads_end"][1] <= f["threads_end"][0]
    assert f["rss_end"][1] - f["rss_end"][0] < 64, f"server memory grew {f['rss_end']} MiB from wave to wave"
