"""The shape of the code: no import circles, and the floors' arrows point down only.

Every `import` and `from ... import` of the packages below is read with `ast`, wherever it is (inside functions,
under `if TYPE_CHECKING:`, in try blocks): an import that Python only runs later is still a dependency. Relative
imports are resolved. In a module that imports importlib, every string naming a module of the tree counts as an
import of it (conversations/__init__.py re-exports its names lazily, PEP 562). `from pkg import name` is an edge to `pkg.name` when that is a module, else to `pkg`.

Floors, top to bottom: bot -> conversations -> work -> pipeline -> storage. pipeline imports neither storage, work,
conversations nor bot; storage imports none of the others; work imports neither conversations nor bot;
conversations does not import bot; models (training and evaluation tools) may import pipeline, and nobody else
imports models. The dialog (conversations) leaves process management to work/.
"""
from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "conversations", "work", "pipeline", "models", "storage")
# What each package may import besides itself.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "bot": frozenset({"conversations", "work", "pipeline", "storage"}),
    "conversations": frozenset({"work", "pipeline", "storage"}),
    "work": frozenset({"pipeline", "storage"}),
    "pipeline": frozenset(),
    "storage": frozenset(),
    "models": frozenset({"pipeline"}),
}
Graph = dict[str, set[str]]


def modules_of(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """{dotted module name: file} of every .py file under root/<package> (a package is its __init__)."""
    found = {}
    for package in packages:
        base = root / package
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _target(name: str, known: Mapping[str, Path]) -> str | None:
    """The known module `name` is, or the nearest known package above it; None outside the packages."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """The known modules that `module` (stored at `path`) imports, anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    edges: set[str] = set()
    lazy = any(isinstance(node, ast.Import) and any(a.name == "importlib" for a in node.names)
               for node in ast.walk(tree))
    for node in ast.walk(tree):
        if lazy and isinstance(node, ast.Constant) and node.value in known:
            targets = [node.value]  # importlib.import_module(a name held in a string): a lazy import of it
        elif isinstance(node, ast.Import):
            targets = [_target(alias.name, known) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from .x: x next to this module (in its package); each further dot one package up
                parts = package.split(".")
                keep = len(parts) - (node.level - 1)
                base = ".".join([*parts[:keep], *([node.module] if node.module else [])]) if keep > 0 else ""
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else _target(base, known)
                       for alias in node.names]
        else:
            continue
        edges |= {target for target in targets if target is not None and target != module}
    return edges


def import_graph(root: Path = REPO, packages: Iterable[str] = PACKAGES) -> Graph:
    """{module: the modules it imports}, for every module of the packages under root."""
    known = modules_of(root, packages)
    return {module: imports_of(module, path, known) for module, path in known.items()}


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (each sorted), by Tarjan's algorithm,
    iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def forbidden_imports(graph: Mapping[str, set[str]],
                      may_import: Mapping[str, frozenset[str]] = MAY_IMPORT) -> list[str]:
    """Every import that points up a floor (or sideways into models): "module -> imported module"."""
    wrong = []
    for module, imported in sorted(graph.items()):
        package = module.partition(".")[0]
        for other in sorted(imported):
            other_package = other.partition(".")[0]
            if other_package != package and other_package not in may_import.get(package, frozenset()):
                wrong.append(f"{module} -> {other}")
    return wrong


# -- the tree ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph()


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circles(graph, package):
    """A circle is reported under each package it passes through."""
    assert any(m.partition(".")[0] == package for m in graph), f"no package {package}"
    mine = [c for c in circles(graph) if any(m.partition(".")[0] == package for m in c)]
    assert not mine, "import circles (each line: the modules of one):\n" + "\n".join(", ".join(c) for c in mine)


def test_arrows_point_down_only(graph):
    assert set(MAY_IMPORT) == set(PACKAGES)
    wrong = forbidden_imports(graph)
    assert not wrong, "imports against the floors:\n" + "\n".join(wrong)


def test_flows_reach_each_other_by_name_only(graph):
    """A flow goes to another's step by its name (turn.goto); it imports only the names, the Turn and what is no
    flow (conversations/flows/__init__.py merges them all)."""
    common = {"conversations.flows.names", "conversations.flows.turn"}
    flows = {m for m in graph if m.startswith("conversations.flows.")} - common
    wrong = [f"{m} -> {o}" for m in sorted(flows) for o in sorted(graph[m]) if o in flows or o == "conversations.flows"]
    assert len(flows) >= 8
    assert not wrong, "flows importing flows:\n" + "\n".join(wrong)


def test_the_graph_sees_the_tree(graph):
    """A sanity check of the reader itself on known edges of the real tree."""
    assert "conversations.flows.turn" in graph["conversations.flows"]
    assert "storage" in graph["conversations.flows.turn"]
    assert len(graph) > 100


# -- the graph functions on a tree of fake modules ----------------------------------------------------------------
PROCESS_MANAGEMENT = ("multiprocessing", "concurrent.futures", "ctypes", "signal", "subprocess")


def test_the_dialog_manages_no_processes():
    """Worker processes, their priority and their lifeline belong to work/; conversations/ only asks for jobs."""
    found = []
    for module, path in modules_of(REPO, ["conversations"]).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{module} -> {n}" for n in names if n.split(".")[0] in PROCESS_MANAGEMENT
                      or n.startswith("concurrent.futures")]
    assert not found, "process management in the dialog:\n" + "\n".join(found)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_circle_through_an_import_inside_a_function_is_found(tmp_path):
    root = _tree(tmp_path, {
        "conversations/__init__.py": "",
        "conversations/flows/__init__.py": "from . import a\n",
        "conversations/flows/a.py": "from conversations.flows.b import g\n\ndef f():\n    return g()\n",
        "conversations/flows/b.py": "def g():\n    from .a import f  # only when called\n    return f\n",
        "conversations/flows/c.py": "import conversations.flows.a\n",
        "storage/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from storage import db\n",
        "storage/db.py": "import storage\n",
    })
    graph = import_graph(root, ("conversations", "storage", "work"))
    assert graph["conversations.flows"] == {"conversations.flows.a"}
    assert graph["conversations.flows.b"] == {"conversations.flows.a"}
    assert graph["conversations.flows.c"] == {"conversations.flows.a"}
    assert circles(graph) == [["conversations.flows.a", "conversations.flows.b"], ["storage", "storage.db"]]


def test_a_lazy_import_through_importlib_is_an_edge(tmp_path):
    root = _tree(tmp_path, {
        "conversations/__init__.py": "import importlib\n_HOMES = {'Engine': 'conversations.engine'}\n"
                                     "def __getattr__(name):\n    return importlib.import_module(_HOMES[name])\n",
        "conversations/engine.py": "from conversations import Engine as Again\n",
        "conversations/texts.py": "NAME = 'conversations.engine'  # a string, but no importlib here\n",
    })
    graph = import_graph(root, ("conversations",))
    assert graph["conversations"] == {"conversations.engine"}
    assert graph["conversations.texts"] == set()
    assert circles(graph) == [["conversations", "conversations.engine"]]


def test_relative_imports_and_names_that_are_not_modules(tmp_path):
    root = _tree(tmp_path, {
        "pipeline/__init__.py": "X = 1\n",
        "pipeline/deep/__init__.py": "from .. import X\nfrom ..types import T\n",
        "pipeline/deep/leaf.py": "from . import other\nfrom .other import thing\nfrom ... import elsewhere\n"
                                 "from ....types import T\n",
        "pipeline/deep/other.py": "import numpy\nfrom pipeline.types import T as U, missing\n",
        "pipeline/types.py": "T = int\n",
    })
    graph = import_graph(root, ("pipeline",))
    assert graph["pipeline.deep"] == {"pipeline", "pipeline.types"}
    assert graph["pipeline.deep.leaf"] == {"pipeline.deep.other"}  # `from ...` leaves the packages: no edge
    assert graph["pipeline.deep.other"] == {"pipeline.types"}
    assert circles(graph) == []


def test_an_upward_arrow_is_found(tmp_path):
    root = _tree(tmp_path, {
        "bot/__init__.py": "import conversations\n",
        "conversations/__init__.py": "",
        "conversations/engine.py": "def later():\n    from bot.settings import S\n",
        "models/__init__.py": "",
        "models/train.py": "from pipeline import types\nfrom storage import db\n",
        "pipeline/__init__.py": "",
        "pipeline/types.py": "import storage.db\n",
        "storage/__init__.py": "",
        "storage/db.py": "",
        "work/__init__.py": "from pipeline.types import *\nimport conversations.engine\n",
    })
    graph = import_graph(root)
    assert graph["conversations.engine"] == {"bot"}  # bot.settings is no module here: the package
    assert graph["work"] == {"pipeline.types", "conversations.engine"}
    assert forbidden_imports(graph) == ["conversations.engine -> bot", "models.train -> storage.db",
                                        "pipeline.types -> storage.db", "work -> conversations.engine"]
