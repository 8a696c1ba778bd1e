"""The server's page path never imports torch: runs train in their own processes, pages read JSON, JSONL and npz.

Checked in a fresh interpreter, as a cold server starts: every module that streamlit_app.py or a page imports is
imported, and torch (and scikit-learn, which only a run's data loading needs) must still be absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import ast, importlib, json, pathlib, sys
mods = set()
for f in ["streamlit_app.py", *sorted(map(str, pathlib.Path("pages").rglob("*.py")))]:
    for node in ast.walk(ast.parse(pathlib.Path(f).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
        elif isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
for m in sorted(mods):
    importlib.import_module(m)
print(json.dumps({"modules": sorted(mods), "loaded": sorted(k for k in ("torch", "sklearn") if k in sys.modules)}))
"""


def test_importing_every_page_dependency_leaves_torch_unloaded() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {"ffviz.store.runs", "ffviz.store.progress", "ffviz.store.catalog", "ffviz.runner.manager",
                "pages.common"}
    assert expected <= set(out["modules"])
    assert out["loaded"] == [], f"the page path imported {out['loaded']}"
