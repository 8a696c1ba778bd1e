"""The tree shows the parts: ffviz/ holds the method, the run store, the runner and the server's policy in folders of
their own (each opening with what it does and what it may import), the imports run one way, and no module imports
one that imports it back, lazily or not.

    python -m pytest -q tests/test_layout.py
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ("method", "store", "runner", "server")
# What each part may not import (the issue's rule, and the layering the folders' docstrings state).
FORBIDDEN = {
    "ffviz.method": ("ffviz.store", "ffviz.runner", "ffviz.server", "ffviz.figures", "pages"),
    "ffviz.store": ("ffviz.method", "ffviz.runner", "ffviz.server", "ffviz.figures", "pages"),
    "ffviz.runner": ("ffviz.server", "pages"),
    "ffviz.server": ("pages",),
    "ffviz": ("pages",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    files = [*(REPO / "ffviz").rglob("*.py"), *(REPO / "pages").rglob("*.py")]
    return {module_name(f): f for f in files if "__pycache__" not in f.parts}


def imports(path: Path, known: set[str]) -> set[str]:
    """Every module of ours that this file imports, anywhere in it (inside functions too: a lazy import is an
    import), ``from pkg import mod`` counted as importing ``pkg.mod``."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            out |= subs or {node.module}
    return {m for m in out if m in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) for name, path in mods.items()}


def test_at_most_16_modules_at_the_top_of_ffviz() -> None:
    top = sorted(p.name for p in (REPO / "ffviz").glob("*.py"))
    assert len(top) <= 16, top


def test_each_part_says_what_it_does_and_what_it_may_import() -> None:
    for folder in [*(REPO / "ffviz" / p for p in PARTS), *(REPO / "pages" / "common").iterdir()]:
        if not folder.is_dir() or folder.name == "__pycache__":
            continue
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
        assert doc and "May import" in doc, f"{folder}/__init__.py: a docstring that says what the part may import"


def test_the_parts_import_one_way() -> None:
    broken = []
    for mod, deps in graph().items():
        if not mod.startswith("ffviz"):
            continue
        owner = next(p for p in FORBIDDEN if mod == p or mod.startswith(p + "."))
        bad = sorted(d for d in deps if any(d == f or d.startswith(f + ".") for f in FORBIDDEN[owner]))
        broken += [f"{mod} imports {d}" for d in bad]
    assert broken == []


# pages/common's parts, bottom up: each may import those before it, never one after it (nor pages/common/sidebar.py,
# which sits above them all).
PAGE_PARTS = ("server", "frame", "train", "share", "runs", "sweep")


def test_the_pages_parts_import_one_way() -> None:
    broken = []
    for mod, deps in graph().items():
        parts = mod.split(".")
        if parts[:2] != ["pages", "common"] or len(parts) < 3 or parts[2] not in PAGE_PARTS:
            continue
        allowed = {"pages.common", *(f"pages.common.{p}" for p in PAGE_PARTS[:PAGE_PARTS.index(parts[2]) + 1])}
        for d in deps:
            if d.startswith("pages.common") and ".".join(d.split(".")[:3]) not in allowed:
                broken.append(f"{mod} imports {d}")
    assert broken == []


def test_no_import_circle() -> None:
    g = graph()
    # a package's own __init__ importing its submodules is no circle; a submodule importing its package for a name
    # the __init__ re-exports would be, so both count.
    index, low, stack, on, circles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert circles == [], f"modules that import each other, directly or through others: {circles}"


MAX_FILE_LINES = 400  # a file that grows past this is doing more than one job: split it by job
MAX_FUNCTION_LINES = 60  # a function past this hides steps that want names of their own


def test_no_file_over_400_lines_and_no_function_over_60() -> None:
    too_long = []
    for path in sorted(modules().values()):
        text = path.read_text()
        where = path.relative_to(REPO)
        if (n := len(text.splitlines())) > MAX_FILE_LINES:
            too_long.append(f"{where}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                if (n := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES:
                    too_long.append(f"{where}:{node.lineno} {node.name}: {n} lines")
    assert too_long == [], too_long
