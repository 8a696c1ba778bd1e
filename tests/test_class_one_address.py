"""A class behind one network address (issue 28): 30 students from 127.0.0.1 each press Start. Named by a proxy's
user header, each is a person with the per-student bounds: 30 runs, 30 owners, none refused. In the token mode the
same class is one address and gets max_runs_per_client runs, the refusal naming that limit.
bench/class_one_address.py is the harness (a Streamlit websocket client per student, no browser)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ffviz.server.limits import Limits

REPO = Path(__file__).resolve().parents[1]


def drive(tmp_path: Path, students: int, mode: str) -> dict:
    out = tmp_path / f"{mode}.json"
    cmd = [sys.executable, "bench/class_one_address.py", "--students", str(students), "--mode", mode,
           "--json", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_thirty_students_behind_one_address_each_have_a_run_in_the_proxy_mode(tmp_path):
    f = drive(tmp_path, 30, "proxy")
    print(f)
    assert f["runs"] == 30 and f["distinct_owners"] == 30 and f["refused"] == 0, f
    assert "came without one" in f["without_header"], f  # a request around the proxy sees no page of the app


@pytest.mark.slow
def test_the_same_class_in_the_token_mode_shares_one_addresss_runs(tmp_path):
    f = drive(tmp_path, 8, "token")
    print(f)
    assert f["runs"] == Limits().max_runs_per_client and f["refused"] == 8 - f["runs"], f
    assert "max_runs_per_client" in f["refusal"], f
