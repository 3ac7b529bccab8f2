"""The package's import graph: no cycles, and no engine imports an engine above it.

Every ``import`` and ``from … import`` in ``vgmath/`` is read with :mod:`ast` — module-level
and inside functions alike (a lazy import is still a dependency) — except those under
``if TYPE_CHECKING:``, which never run. The layers, lowest first, are :data:`LAYERS`; a
module may import its own layer and the layers below it. ``vgmath/__init__.py`` and
``vgmath/__main__.py`` are the public surface above every layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "vgmath"

#: lowest first; see ARCHITECTURE.md
LAYERS = (
    "core",
    "symbolic",
    "network",
    "theory",
    "montecarlo",
    "verification",
    "training",
    "reporting",
    "torch",
    "cli",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: set[str], *, strict: bool = True) -> set[str]:
    """The vgmath modules that ``path`` imports (outside ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    unresolved: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "vgmath":
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "vgmath":
                return
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
                if sub not in modules and target not in modules:
                    unresolved.append(f"{name}: from {target} import {alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    if strict:
        assert not unresolved, f"imports of vgmath modules that do not exist: {unresolved}"
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    paths = sorted(ROOT.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) for p in paths}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in ("__main__",):
        return None  # the public surface: may import anything
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else -1


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_every_import_of_vgmath_resolves() -> None:
    """A lazy import of a module that does not exist fails only when its function runs; here
    it fails at once (``_graph`` reads every module strictly)."""
    assert _graph()


def test_every_module_is_in_a_layer() -> None:
    stray = [m for m in _graph() if _layer(m) == -1]
    assert not stray, f"modules outside the layers {LAYERS}: {stray}"


def test_no_import_cycles() -> None:
    # A package's __init__ re-exporting its own modules lazily is not a cycle; an eager one
    # would be, and is caught here like any other.
    assert _cycles(_graph()) == []


def test_imports_flow_downwards() -> None:
    upward = []
    for module, deps in _graph().items():
        lm = _layer(module)
        if lm is None:
            continue
        for dep in deps:
            ld = _layer(dep)
            if ld is not None and ld > lm:
                upward.append(f"{module} -> {dep} ({LAYERS[lm]} imports {LAYERS[ld]})")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


@pytest.mark.quality
def test_the_checker_catches_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The checks themselves can fail: a planted cycle and an upward import are found."""
    graph = {"vgmath.theory.a": {"vgmath.theory.b"}, "vgmath.theory.b": {"vgmath.theory.a"}}
    assert _cycles(graph) == [["vgmath.theory.a", "vgmath.theory.b"]]
    assert _layer("vgmath.symbolic.x") < _layer("vgmath.montecarlo.y")
    pkg = tmp_path / "vgmath" / "symbolic"
    pkg.mkdir(parents=True)
    (tmp_path / "vgmath" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "bad.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..reporting import ok\n"
        "def f():\n    from ..montecarlo.simulation import simulate\n"
    )
    mods = {"vgmath.montecarlo.simulation", "vgmath.reporting.ok", "vgmath.symbolic.bad"}
    global ROOT
    saved, ROOT = ROOT, tmp_path / "vgmath"
    try:
        assert _imports(pkg / "bad.py", mods) == {"vgmath.montecarlo.simulation"}
        (pkg / "typo.py").write_text("def f():\n    from ..symbolc import parse\n")
        with pytest.raises(AssertionError, match="do not exist"):
            _imports(pkg / "typo.py", mods)
    finally:
        ROOT = saved
