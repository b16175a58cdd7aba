"""Architecture guard: no import cycles, arrows only down the layers, a pure core without I/O libraries.

Every import counts, wherever it is written: module level, inside a function (lazy) and under
``if TYPE_CHECKING:``; a cycle through a lazy import is still a cycle for a reader. The check is a
plain ``ast`` walk over the source tree, so it needs nothing installed and sees what a reader sees.

Layers: ``cli → stsmock → (issuer | stsproxy) → boundedjson``; ``issuer`` and ``stsproxy`` import
nothing of ours but the ``boundedjson`` leaf and not each other; ``stsproxy.gateway`` may import the
rest of ``stsproxy``, never the reverse.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cli", "stsmock", "issuer", "stsproxy", "boundedjson")
#: Higher imports lower, never the reverse; equal ranks (issuer, stsproxy) are independent.
RANK = {"cli": 3, "stsmock": 2, "issuer": 1, "stsproxy": 1, "boundedjson": 0}
GATEWAY = "stsproxy.gateway"
#: The pure core: protocol and policy code over plain data, no HTTP server or JOSE library.
#: Each entry is a module or a package (all its submodules). Gateway entries may not exist yet.
PURE_CORE = (
    "stsproxy.policy",
    "stsproxy.protocol",
    "stsproxy.validation",
    "stsproxy.gateway.model",
    "stsproxy.gateway.classify",
    "boundedjson",
)
REQUIRED_PURE = ("stsproxy.policy", "stsproxy.protocol", "stsproxy.validation")
IO_LIBRARIES = ("aiohttp", "joserfc")
#: A module holds one job; past this many lines it is doing two (issue 10's acceptance).
MAX_MODULE_LINES = 400

#: Import cycles that still exist, each named by its modules. It may only shrink: a new cycle fails,
#: and an entry that no longer is a cycle fails too (delete it, and tell the owner it is gone).
ALLOWED_CYCLES: dict[str, frozenset[str]] = {}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Module name -> file for every Python file of ``packages`` under ``root``."""
    out: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            out[module_name(path, root)] = path
    return out


def _resolve(current: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, module] if module else base)


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every absolute module name ``name`` imports (ours resolved to the deepest known module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):  # every import anywhere: top level, functions, TYPE_CHECKING blocks
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in known else target)
    return {_owner(t, known) for t in out if t}


def _owner(target: str, known: set[str]) -> str:
    """``a.b.c`` where ``a.b`` is our module and ``c`` a name in it -> ``a.b``; foreign names unchanged."""
    probe = target
    while probe and probe not in known:
        probe = probe.rpartition(".")[0]
    return probe or target


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules it imports (ours and foreign, top-level names for foreign ones)."""
    files = discover(root, packages)
    known = set(files)
    return {name: imports_of(name, path, known) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative Tarjan: deep graphs must not hit the recursion limit
        nonlocal counter
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, ()):
                        found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Arrows against the layers, between the planes, or from stsproxy into its gateway."""
    out: list[str] = []
    for source, targets in sorted(graph.items()):
        top = source.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other not in RANK or other == top:
                if other == "stsproxy" and _in(target, GATEWAY) and not _in(source, GATEWAY):
                    out.append(f"{source} -> {target}: stsproxy must not import its gateway")
                continue
            if RANK[other] >= RANK[top]:
                out.append(f"{source} -> {target}: {top} may not import {other}")
    return out


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def impure_core(graph: dict[str, set[str]], pure: Iterable[str] = PURE_CORE) -> list[str]:
    """Pure-core modules that import an I/O library, directly or through our own modules."""
    core = [m for m in graph if any(_in(m, p) for p in pure)]
    out: list[str] = []
    for start in sorted(core):
        seen, todo = {start}, [start]
        while todo:
            node = todo.pop()
            for target in graph.get(node, ()):
                if any(_in(target, lib) for lib in IO_LIBRARIES):
                    via = "" if node == start else f" (via {node})"
                    out.append(f"{start} imports {target}{via}")
                elif target in graph and target not in seen:
                    seen.add(target)
                    todo.append(target)
    return out


# -- the checks over this repository ---------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(ROOT)


def test_no_import_cycles(graph):
    found = cycles(graph)
    unexpected = [sorted(c) for c in found if not any(c <= allowed for allowed in ALLOWED_CYCLES.values())]
    assert not unexpected, f"import cycles (lazy and TYPE_CHECKING imports count): {unexpected}"
    stale = [name for name, allowed in ALLOWED_CYCLES.items() if not any(c & allowed for c in found)]
    assert not stale, f"these allowed cycles are gone; delete them from ALLOWED_CYCLES: {stale}"


def test_arrows_follow_the_layers(graph):
    assert not layer_violations(graph)


def test_pure_core_imports_no_io_library(graph):
    for required in REQUIRED_PURE:
        assert any(_in(m, required) for m in graph), f"{required} is listed as pure core but does not exist"
    assert not impure_core(graph)


def test_no_module_over_400_lines():
    long = {
        name: lines
        for name, path in discover(ROOT, PACKAGES).items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by job): {long}"


# -- the checker catches what it should ------------------------------------------------------------


def _plant(root: Path, files: dict[str, str]) -> dict[str, set[str]]:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return import_graph(root)


def test_checker_finds_a_cycle_through_lazy_and_type_checking_imports(tmp_path):
    graph = _plant(
        tmp_path,
        {
            "stsmock/__init__.py": "",
            "stsmock/a.py": "def f():\n    from .b import g\n    return g\n",
            "stsmock/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from stsmock import c\n",
            "stsmock/c.py": "from . import a\n",
            "stsmock/d.py": "from .a import f\n",
        },
    )
    assert cycles(graph) == [frozenset({"stsmock.a", "stsmock.b", "stsmock.c"})]


def test_checker_finds_arrows_against_the_layers(tmp_path):
    graph = _plant(
        tmp_path,
        {
            "issuer/__init__.py": "",
            "issuer/x.py": "import stsproxy.y\n",
            "stsproxy/__init__.py": "",
            "stsproxy/y.py": "def f():\n    from stsmock.z import h\n",
            "stsproxy/gateway/__init__.py": "",
            "stsproxy/gateway/g.py": "from ..y import f\n",
            "stsproxy/w.py": "from .gateway import g\n",
            "stsmock/__init__.py": "",
            "stsmock/z.py": "from cli import main\n",
            "cli/__init__.py": "",
            "cli/main.py": "from stsmock import z\nfrom issuer import x\n",
        },
    )
    assert layer_violations(graph) == [
        "issuer.x -> stsproxy.y: issuer may not import stsproxy",
        "stsmock.z -> cli.main: stsmock may not import cli",
        "stsproxy.w -> stsproxy.gateway.g: stsproxy must not import its gateway",
        "stsproxy.y -> stsmock.z: stsproxy may not import stsmock",
    ]


def test_checker_finds_io_libraries_in_the_pure_core(tmp_path):
    graph = _plant(
        tmp_path,
        {
            "stsproxy/__init__.py": "",
            "stsproxy/protocol.py": "from .helpers import h\n",
            "stsproxy/helpers.py": "def h():\n    import joserfc.jws\n",
            "stsproxy/policy/__init__.py": "from aiohttp import web\n",
        },
    )
    assert impure_core(graph) == [
        "stsproxy.policy imports aiohttp",
        "stsproxy.protocol imports joserfc.jws (via stsproxy.helpers)",
    ]
