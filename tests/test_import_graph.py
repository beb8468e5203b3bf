"""The modules of ``webglm`` import each other without cycles.

The graph is built from the source with ``ast``: every ``import`` statement, at module level
or inside a function (a lazy import that closes a loop is still a cycle, it only fails later),
except those under ``if TYPE_CHECKING:``. ``from pkg import name`` points at the submodule
``pkg.name`` when there is one, else at ``pkg`` itself. Importing a submodule also runs its
package's ``__init__``; that implicit edge is left out, since every ``__init__`` that
re-exports its submodules would otherwise close a loop. Names that :mod:`webglm.registry`
imports by string (``"webglm.generator.hf:TransformersBackend"``) are not edges either: the
registry resolves them on first use, the way a plugin's entry point is resolved."""

import ast
from pathlib import Path

import webglm

ROOT = Path(webglm.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def _targets(node: ast.AST, name: str, is_package: bool, modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        pkg = ".".join(base + ([node.module] if node.module else []))
    else:
        pkg = node.module or ""
    return [f"{pkg}.{a.name}" if f"{pkg}.{a.name}" in modules else pkg for a in node.names]


def import_graph() -> dict[str, set[str]]:
    """``module -> modules of webglm it imports``."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
                edges.update(t for t in _targets(node, name, path.name == "__init__.py", modules)
                             if t in modules and t != name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "webglm.types" in graph["webglm.pipeline"] and "webglm.errors" in graph["webglm.config"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_webglm():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)
