"""The import graph of the runtime packages: no cycles, and no import against the layering (issue 17).

Layers, top to bottom: app → interpret → dnahnet → kernels. A package may import its own modules and any package
below it, never one above. sample_genomes (the sample catalogue and its loader) sits beside interpret: it may use
dnahnet (the genome reader) and app may use it; interpret, dnahnet and kernels never import it. Development material
(bench/, tests/, tools/) may import anything, and no runtime package imports it.

What counts as an import: every `import` / `from … import` statement in a module, wherever it stands, read with
`ast` (nothing is executed). Imports inside functions count, for the layering and for cycles alike: a lazy import
that closes a cycle only postpones the loop to call time; the two modules still cannot be understood, tested or
moved one without the other. `if TYPE_CHECKING:` imports count too, for the same reason (a type named from the
module above is knowledge of that module). Not counted: a module importing itself (under `python -m` a file runs
as `__main__` and may import its own names; that orders nothing); the implicit import of a parent package's
`__init__` (every `import a.b` runs `a/__init__.py`; counting it would turn each package that re-exports its
modules into a cycle with them). Imports under a top-level `if __name__ == "__main__":` count for the layering but
not for cycles: they run only when the file is a script, a module object apart from the one others import, so a
module may hand its `python -m` entry point to a command-line module of its package that imports it.
Dynamic imports (`importlib.import_module(name)`) are invisible to `ast`.
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# What each runtime package may import besides itself; everything not listed is upward or sideways.
ALLOWED = {
    "app": ("interpret", "sample_genomes", "dnahnet", "kernels"),
    "interpret": ("dnahnet", "kernels"),
    "sample_genomes": ("dnahnet", "kernels"),
    "dnahnet": ("kernels",),
    "kernels": (),
}
RUNTIME = tuple(ALLOWED)
DEVELOPMENT = ("bench", "tests", "tools")  # may import anything; nothing in RUNTIME imports them
# Imports against the layering kept on purpose: {(importer, imported): why}. Empty: every edge follows the layers.
EXCEPTIONS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    """One import of a project module by another: where it stands and whether it runs only when called."""
    source: str
    target: str
    path: str
    line: int
    lazy: bool
    script: bool = False  # under `if __name__ == "__main__":`

    def __str__(self) -> str:
        where = "script block" if self.script else "inside a function" if self.lazy else "at import time"
        return f"{self.source} → {self.target}  ({self.path}:{self.line}, {where})"


def project_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted name → file for every .py file under the given top-level packages (namespace folders included)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if any(p.startswith(".") or p == "__pycache__" for p in parts):
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _known(name: str, modules: dict[str, Path], tops: set[str]) -> str | None:
    """The project module `name` refers to: itself if it is one, else its longest known prefix; None if foreign."""
    if name.split(".")[0] not in tops:
        return None
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported_names(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted names one import statement can bind: `from a import b` may mean the module a.b or a name in a."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolved against the importing module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[:len(package) - (node.level - 1)] if node.level > 1 else package
        base = ".".join(anchor + ([base] if base else []))
    return [f"{base}.{alias.name}" if alias.name != "*" else base for alias in node.names] + [base]


def _lazy_lines(tree: ast.AST) -> set[int]:
    """Line numbers of import statements that stand inside a function body (run only when it is called)."""
    lines = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            lines.update(n.lineno for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return lines


def _script_lines(tree: ast.Module) -> set[int]:
    """Line numbers inside top-level `if __name__ == "__main__":` blocks (the file run as a script only)."""
    lines = set()
    for node in tree.body:
        test = node.test if isinstance(node, ast.If) else None
        if (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
                and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)):
            lines.update(n.lineno for n in ast.walk(node) if hasattr(n, "lineno"))
    return lines


def import_edges(root: Path, packages: tuple[str, ...], foreign_tops: tuple[str, ...] = ()) -> list[Edge]:
    """Every import among project modules (and of `foreign_tops`, e.g. development folders, by top-level name)."""
    modules = project_modules(root, packages)
    tops = set(packages)
    edges = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        lazy, script = _lazy_lines(tree), _script_lines(tree)
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = _imported_names(node, module, path.name == "__init__.py")
            if isinstance(node, ast.ImportFrom):  # `from a import b`: the module a.b if it exists, else a itself
                names = [n for n in names[:-1] if n in modules] or names[-1:]
            targets = set()
            for name in names:
                if name.split(".")[0] in foreign_tops:
                    targets.add(name.split(".")[0])
                elif (target := _known(name, modules, tops)) is not None:
                    targets.add(target)
            edges += [Edge(module, t, rel, node.lineno, node.lineno in lazy, node.lineno in script)
                      for t in sorted(targets) if t != module]
    return edges


def find_cycles(edges: list[Edge]) -> list[list[Edge]]:
    """The strongly connected components of more than one module (Tarjan): each one's edges, shortest cycle first.
    Script-block imports are left out (see the module docstring)."""
    graph: dict[str, dict[str, Edge]] = {}
    for e in (e for e in edges if not e.script):
        graph.setdefault(e.source, {}).setdefault(e.target, e)
        graph.setdefault(e.target, {})
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def strongconnect(v: str) -> None:  # recursion depth ≤ number of modules (~100)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    cycles = []
    for component in components:
        cycle = _shortest_cycle(graph, component, min(component))
        rest = [e for v in sorted(component) for w, e in sorted(graph[v].items()) if w in component and e not in cycle]
        cycles.append(cycle + rest)
    return sorted(cycles, key=lambda c: c[0].source)


def _shortest_cycle(graph: dict[str, dict[str, Edge]], component: set[str], start: str) -> list[Edge]:
    """Breadth-first inside one component from `start` until the search is back at `start`."""
    parent: dict[str, Edge] = {}
    frontier = [start]
    while frontier and start not in parent:
        nxt = []
        for v in frontier:
            for w, e in sorted(graph[v].items()):
                if w in component and w not in parent:
                    parent[w] = e
                    nxt.append(w)
        frontier = nxt
    path, v = [], start
    while True:
        path.append(parent[v])
        v = parent[v].source
        if v == start:
            return path[::-1]


def against_layers(edges: list[Edge], allowed: dict[str, tuple[str, ...]],
                   exceptions: dict[tuple[str, str], str]) -> list[Edge]:
    """Edges from one package into a package it may not import (upward, sideways, or into development code)."""
    bad = []
    for e in edges:
        src, dst = e.source.split(".")[0], e.target.split(".")[0]
        if src != dst and dst not in allowed[src] and (e.source, e.target) not in exceptions:
            bad.append(e)
    return bad


def describe_cycles(cycles: list[list[Edge]]) -> str:
    """Per component: its shortest cycle as a path, then every import inside it (the edges to cut from)."""
    lines = []
    for edges in cycles:
        start, path = edges[0].source, [edges[0]]
        while path[-1].target != start:
            path.append(edges[len(path)])
        modules = sorted({e.source for e in edges})
        lines.append(" → ".join([start] + [e.target for e in path])
                     + f"   ({len(modules)} modules in the loop: {', '.join(modules)})")
        lines += [f"    {e}" for e in edges]
    return "\n".join(lines)


def describe_layers(bad: list[Edge], allowed: dict[str, tuple[str, ...]]) -> str:
    lines = []
    for e in bad:
        src = e.source.split(".")[0]
        may = ", ".join(allowed[src]) or "nothing outside itself"
        lines.append(f"  {e}\n    {src} may import: {may}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ the project


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return import_edges(REPO_ROOT, RUNTIME, DEVELOPMENT)


def test_no_import_cycles_among_project_modules(edges):
    cycles = find_cycles(edges)
    if cycles:
        pytest.fail(f"{len(cycles)} import cycle(s) among project modules (lazy imports count: see this file's "
                    f"docstring):\n{describe_cycles(cycles)}", pytrace=False)


def test_imports_follow_the_layering(edges):
    bad = against_layers(edges, ALLOWED, EXCEPTIONS)
    if bad:
        pytest.fail(f"{len(bad)} import(s) against the layering app → interpret → dnahnet → kernels "
                    f"(sample_genomes beside interpret; bench/tests/tools never imported):\n"
                    f"{describe_layers(bad, ALLOWED)}", pytrace=False)


def test_exceptions_are_still_needed(edges):
    """A documented exception whose import is gone must be dropped, so the list never hides a future one."""
    present = {(e.source, e.target) for e in edges}
    assert not set(EXCEPTIONS) - present, f"stale layering exceptions: {sorted(set(EXCEPTIONS) - present)}"


def test_every_top_level_python_folder_is_classified():
    """A new top-level folder of Python code must be put in a layer (ALLOWED) or called development material."""
    folders = {p.parent.name for p in REPO_ROOT.glob("*/*.py") if not p.parent.name.startswith(".")}
    unknown = folders - set(RUNTIME) - set(DEVELOPMENT)
    assert not unknown, f"top-level Python folders in no layer: {sorted(unknown)}; add them to tests/test_layering.py"


def test_the_graph_sees_the_known_imports(edges):
    """Known answers on the real tree: `from X import module` resolves to the module, lazy imports are seen."""
    found = {(e.source, e.target): e for e in edges}
    assert ("dnahnet.infer", "dnahnet.cache") in found  # `from dnahnet import cache as trace_cache`
    assert ("dnahnet.hnet", "dnahnet.routing") in found
    assert any(e.lazy for e in edges)
    assert all(e.source.split(".")[0] in RUNTIME for e in edges)


# ------------------------------------------------------------------------------------------- the checker itself


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_checker_catches_a_lazy_cycle_and_an_upward_import(tmp_path):
    """A synthetic tree: low.a ↔ low.c (one side lazy, one relative), low.b imports top lazily; top → low is fine;
    low.d's script block imports low.d's own command line, low.cli, which imports low.d (no cycle)."""
    _write(tmp_path, {
        "top/__init__.py": "",
        "top/page.py": "from low import a\nimport numpy\n",
        "low/__init__.py": "from low.a import thing  # re-export: not a cycle with low.a\n",
        "low/a.py": "from . import c\nthing = 1\n",
        "low/b.py": "def f():\n    from top.page import a\n    return a\n",
        "low/c.py": "def g():\n    from low import a\n    return a.thing\n",
        "low/d.py": "import low.d\nfrom low import thing\nif __name__ == '__main__':\n    from low.cli import main\n",
        "low/cli.py": "from low import d\n",
    })
    allowed = {"top": ("low",), "low": ()}
    edges = import_edges(tmp_path, ("top", "low"))
    pairs = {(e.source, e.target) for e in edges}
    assert pairs == {("top.page", "low.a"), ("low", "low.a"), ("low.a", "low.c"), ("low.b", "top.page"),
                     ("low.c", "low.a"), ("low.d", "low"), ("low.d", "low.cli"), ("low.cli", "low.d")}

    cycles = find_cycles(edges)
    assert [[(e.source, e.target) for e in c] for c in cycles] == [[("low.a", "low.c"), ("low.c", "low.a")]]
    assert "low.a → low.c → low.a" in describe_cycles(cycles)
    assert "low/c.py:2, inside a function" in describe_cycles(cycles)

    bad = against_layers(edges, allowed, {})
    assert [(e.source, e.target, e.lazy) for e in bad] == [("low.b", "top.page", True)]
    assert "low may import: nothing outside itself" in describe_layers(bad, allowed)
    assert against_layers(edges, allowed, {("low.b", "top.page"): "documented"}) == []


def test_checker_passes_a_clean_tree_and_sees_development_imports(tmp_path):
    """No cycle and downward only passes; an import of tests/ from a runtime module is caught by its top name, and
    a script block's upward import by the layering."""
    _write(tmp_path, {
        "top/__init__.py": "",
        "top/page.py": "import low.a as a\nfrom low.a import thing\n",
        "low/__init__.py": "",
        "low/a.py": "thing = 1\n",
        "low/e.py": "from tests.helpers import make\n",
        "low/f.py": "if __name__ == '__main__':\n    import top.page\n",
    })
    edges = import_edges(tmp_path, ("top", "low"), ("tests",))
    assert find_cycles(edges) == []
    bad = against_layers(edges, {"top": ("low",), "low": ()}, {})
    assert [(e.source, e.target, e.script) for e in bad] == [("low.e", "tests", False), ("low.f", "top.page", True)]
