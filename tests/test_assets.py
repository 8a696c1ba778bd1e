"""Home's diagrams are the SVG sources themselves: Streamlit passes an SVG file to the browser as it is, where a PNG
goes through Pillow on every visit (and is re-encoded when wider than Streamlit's widest column), which made the
first page of a fresh server wait for Pillow's import and two PNG encodes."""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIAGRAMS = REPO / "assets" / "diagrams"


def test_every_diagram_home_shows_is_an_svg_that_parses():
    tree = ast.parse((REPO / "pages" / "home.py").read_text())
    shown = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and node.value.endswith((".svg", ".png"))]
    assert shown and all(name.endswith(".svg") for name in shown), shown
    for name in shown:
        root = ET.parse(DIAGRAMS / name).getroot()
        assert root.tag.endswith("svg") and root.get("viewBox"), name


def _bare_expressions(body: list[ast.stmt], path: str) -> list[str]:
    """Statements Streamlit's magic would turn into st.write: a bare expression that is not a call (nor a module's
    docstring), at the top of a page or in its if/with/for/try blocks (function bodies are never rewritten)."""
    found = []
    for i, node in enumerate(body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Call) and not (
                i == 0 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            found.append(f"{path}:{node.lineno}")
        for field in ("body", "orelse", "finalbody", "handlers"):
            sub = getattr(node, field, None)
            if isinstance(sub, list):
                found += _bare_expressions(sub, path)
    return found


def test_magic_is_off_and_no_page_relies_on_it():
    config = (REPO / ".streamlit" / "config.toml").read_text()
    assert "magicEnabled = false" in config
    scripts = [REPO / "streamlit_app.py", *sorted((REPO / "pages").glob("*.py"))]
    assert [] == [b for s in scripts for b in _bare_expressions(ast.parse(s.read_text()).body, s.name)]
