"""The package's import graph: the emulator and the target stay apart, and nothing imports in a cycle.

Every module of target_salesforce_out is parsed (not imported) and every import statement is
read, wherever it is: at the top, inside a function, or under ``if TYPE_CHECKING:`` (an import
only the type checker runs still ties the two modules together for a reader). Relative imports
are resolved against the importing module's package; ``from pkg import name`` counts as an
import of the submodule ``pkg.name`` when there is one, else of ``pkg``. A package's
``__init__`` that Python runs on the way to a submodule is not counted: only what a module names.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

import target_salesforce_out

PACKAGE = "target_salesforce_out"
EMULATOR = f"{PACKAGE}.emulator"
ROOT = Path(target_salesforce_out.__file__).parent

Graph = dict[str, dict[str, int]]  # module -> {imported module: line of the first import}


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``root``."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join([package, *parts])] = path
    return modules


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[list[str], int]]:
    """For each imported name in ``tree``: the modules it may be, best first, and its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield [alias.name], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # The package the import is relative to: a package's __init__ is its own.
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            for alias in node.names:
                # "from pkg import name": the submodule pkg.name if there is one, else pkg.
                yield [f"{base}.{alias.name}", base], node.lineno


def import_graph(root: Path, package: str) -> Graph:
    """Which package modules each package module imports."""
    files = module_files(root, package)
    graph: Graph = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: dict[str, int] = {}
        for candidates, line in _imports(tree, module, path.name == "__init__.py"):
            target = next((c for c in candidates if c in files), None)
            if target is not None and target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def in_emulator(module: str, emulator: str = EMULATOR) -> bool:
    return module == emulator or module.startswith(emulator + ".")


def boundary_crossings(graph: Graph, emulator: str = EMULATOR) -> list[str]:
    """Each import from the emulator into the target, or from the target into the emulator."""
    return [
        f"{module} imports {target} (line {line})"
        for module, edges in sorted(graph.items())
        for target, line in sorted(edges.items())
        if in_emulator(module, emulator) != in_emulator(target, emulator)
    ]


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, {})):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def cycle_path(graph: Graph, component: list[str]) -> list[str]:
    """The shortest cycle through the component's first module: ``[a, b, ..., a]``."""
    start = component[0]
    members = set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node]):
            if nxt == start:
                return [*paths[node], start]
            if nxt in members and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def describe_cycles(graph: Graph) -> list[str]:
    """One line per import cycle: its modules, then one way around it, import by import."""
    lines = []
    for component in strongly_connected(graph):
        path = cycle_path(graph, component)
        steps = ", ".join(
            f"{a} imports {b} (line {graph[a][b]})" for a, b in itertools.pairwise(path)
        )
        lines.append(f"{' <-> '.join(component)}: {steps}")
    return lines


# The checker itself, on small packages written for the purpose -------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


FIXTURES = [
    pytest.param(
        {"__init__.py": "", "a.py": "from pkg import b\n", "b.py": "import pkg.a\n"},
        [["pkg.a", "pkg.b"]],
        id="absolute-both-ways",
    ),
    pytest.param(
        {
            "__init__.py": "",
            "a.py": "from .sub.c import x\n",
            "sub/__init__.py": "",
            "sub/c.py": "from ..a import y\n",
        },
        [["pkg.a", "pkg.sub.c"]],
        id="relative-two-levels",
    ),
    pytest.param(
        {
            "__init__.py": "",
            "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
            "b.py": "def f():\n    from pkg import a\n    return a\n",
        },
        [["pkg.a", "pkg.b"]],
        id="type-checking-and-function-level",
    ),
    pytest.param(
        {
            "__init__.py": "",
            "sub/__init__.py": "from . import d\n",
            "sub/d.py": "from . import e\n",
            "sub/e.py": "from pkg.sub import d\n",
        },
        [["pkg.sub.d", "pkg.sub.e"]],
        id="from-package-import-submodule",
    ),
    pytest.param(
        {
            "__init__.py": "",
            "a.py": "import pkg.b\n",
            "b.py": "import json\nfrom pkg import c\n",
            "c.py": "from pkg.a import thing\n",
        },
        [["pkg.a", "pkg.b", "pkg.c"]],
        id="three-module-cycle",
    ),
    pytest.param(
        {
            "__init__.py": "from pkg.a import A\n",
            "a.py": "A = 1\n",
            "b.py": "from pkg import A\n",
        },
        [],
        id="a-name-from-the-package-init-is-no-cycle",
    ),
]


@pytest.mark.parametrize(("files", "cycles"), FIXTURES)
def test_the_checker_finds_cycles(tmp_path, files, cycles):
    graph = import_graph(_package(tmp_path, files), "pkg")
    assert strongly_connected(graph) == cycles


def test_the_checker_reports_a_path_around_the_cycle(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "\nimport pkg.b\n",
            "b.py": "from . import c\n",
            "c.py": "from .a import z\n",
        },
    )
    [line] = describe_cycles(import_graph(root, "pkg"))
    assert line == (
        "pkg.a <-> pkg.b <-> pkg.c: pkg.a imports pkg.b (line 2), pkg.b imports pkg.c (line 1), "
        "pkg.c imports pkg.a (line 1)"
    )


def test_the_checker_finds_crossings_both_ways(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "target.py": "def f():\n    from pkg.emu.server import App\n",
            "emu/__init__.py": "",
            "emu/server.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..target import f\n",
            "emu/ok.py": "from .server import App\n",
        },
    )
    crossings = boundary_crossings(import_graph(root, "pkg"), emulator="pkg.emu")
    assert crossings == [
        "pkg.emu.server imports pkg.target (line 3)",
        "pkg.target imports pkg.emu.server (line 2)",
    ]


# The package ------------------------------------------------------------------------------


def test_the_emulator_and_the_target_never_import_each_other():
    crossings = boundary_crossings(import_graph(ROOT, PACKAGE))
    assert not crossings, "imports across the emulator boundary:\n" + "\n".join(crossings)


def test_no_import_cycles():
    cycles = describe_cycles(import_graph(ROOT, PACKAGE))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_graph_sees_the_whole_package():
    graph = import_graph(ROOT, PACKAGE)
    assert f"{PACKAGE}.target" in graph
    assert f"{PACKAGE}.client" in graph[f"{PACKAGE}.soql"]
    assert any(in_emulator(m) for m in graph)


def test_test_file_basenames_are_unique():
    """tests/ has no __init__.py files, so pytest imports test modules by basename: two files
    with one name in different folders stop the whole collection. conftest.py files are
    imported per folder by pytest itself, so one per folder is fine."""
    root = Path(__file__).parent
    names: dict[str, list[str]] = {}
    for path in root.rglob("*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(root)))
    shared = {"__init__.py", "conftest.py"}
    clashes = {n: sorted(p) for n, p in names.items() if len(p) > 1 and n not in shared}
    assert clashes == {}
