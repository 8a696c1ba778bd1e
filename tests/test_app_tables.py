"""The app's tables agree with the files: one table of pages and session keys (pages/common/frame/keys.py) names every
page script, the view pages use its keys, and no module in pages/common imports one that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

from pages.common.frame.keys import PAGES, VIEW_PAGES, epoch_key, layer_key
from pages.common.frame.links import decode

REPO = Path(__file__).resolve().parents[1]
COMMON = REPO / "pages" / "common"


def test_every_page_in_the_table_has_its_script_and_every_script_is_in_the_table() -> None:
    scripts = {p.script for p in PAGES}
    assert scripts == {f"pages/{f.name}" for f in (REPO / "pages").glob("*.py")}
    assert [p.name for p in PAGES if p.name == "home"] == ["home"] and PAGES[0].url_path == ""


def test_a_link_names_each_page_of_the_table() -> None:
    for page in PAGES:
        state, notes = decode({"page": page.name})
        assert state.page == page.name and notes == []


def test_each_view_page_uses_the_tables_keys() -> None:
    """A link's epoch= and layer= land in these keys: the view page's slider and picker must read the same ones."""
    for name in VIEW_PAGES:
        text = (REPO / "pages" / f"{name}.py").read_text()
        uses_table = f'epoch_key("{name}")' in text and f'layer_key("{name}")' in text
        assert uses_table or (f'"{epoch_key(name)}"' in text and f'"{layer_key(name)}"' in text), name


def _module(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The pages/common modules a module imports: ``from pages.common.x import a``, ``from pages.common.x.a import``."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pages.common"):
            out |= {f"{node.module}.{a.name}" for a in node.names} & modules
            out |= {node.module} & modules
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names} & modules
    return out - {_module(path)}


def test_no_import_cycle_in_pages_common() -> None:
    files = [f for f in COMMON.rglob("*.py") if f.stem != "__init__"]
    modules = {_module(f) for f in files}
    graph = {_module(f): _imports(f, modules) for f in files}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            m = todo.pop()
            if m == goal:
                return True
            if m not in seen:
                seen.add(m)
                todo.extend(graph.get(m, ()))
        return False

    cycles = sorted((a, b) for a, deps in graph.items() for b in deps if reaches(b, a))
    assert cycles == [], f"modules that import each other (directly or through others): {cycles}"
