"""The rules of docs/architecture.md, checked on the source: which part may import which, no
import circle, Litestar only in `api/`, modules and functions of a readable size, every
exception in `errors.py`. Read with `ast` (imports under `if TYPE_CHECKING:` count too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "echo_orchestrator"

# part -> the parts it may import (besides itself and the package's `__version__`).
LOWER = {
    "errors": set(),
    "models": {"errors"},
    "settings": {"errors"},
    "logs": set(),
    "system": set(),
    "stopping": set(),
    "metrics": set(),
    "tracing": set(),
    "lifecycle": {"errors", "models"},
    "security": {"errors", "models", "settings"},
    "store": {"errors", "models", "lifecycle"},
    "store.definitions": {"store", "errors", "models", "lifecycle"},
    "store.runtime": {"store", "errors", "models", "lifecycle"},
    "store.workspaces": {"store", "errors", "models"},
    "store.cluster": {"store", "store.runtime", "store.definitions", "errors", "models", "lifecycle"},
    "registry": {"errors", "models", "store.workspaces"},
    "mcp": {"errors", "metrics", "models", "registry", "security"},
    "engine.llm": {"errors", "models", "registry", "security"},
}
ENGINE = {"engine.llm", "mcp", "registry", "security", "store", "store.definitions", "store.runtime", "store.workspaces"}
RULES = {
    **LOWER,
    "engine": ENGINE | {"lifecycle", "logs", "metrics", "models", "errors", "tracing"},
    "builtins": {"engine", "registry", "store.workspaces", "errors", "models"},
    "services": ENGINE | {"engine", "lifecycle", "logs", "metrics", "models", "errors", "settings", "system", "tracing"},
    "backends": {"store", "store.definitions", "store.runtime", "store.cluster", "lifecycle", "errors", "models"},
}
# Composition and faces: they may import anything below them, never each other's insides.
TOP = {"container", "api", "cli", "console", "listing", "mcp_server", "run_sources", "worker", "__main__"}
NEVER_FROM_TOP = {"cli": {"api"}, "container": {"api", "cli", "mcp_server"}, "mcp_server": {"api", "cli"}, "worker": {"api", "cli"}}

MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def part_of(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts or parts == ["__init__"]:
        return "echo_orchestrator"
    if parts[0] == "store" and len(parts) > 1 and parts[1] in ("definitions", "runtime", "cluster", "workspaces"):
        return f"store.{parts[1]}"
    if parts[0] == "engine" and len(parts) > 1 and parts[1] == "llm":
        return "engine.llm"
    return parts[0]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
            out += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
    return out


def test_each_part_imports_only_what_is_below_it() -> None:
    broken = []
    for name, path in modules().items():
        part = part_of(name)
        for target in imports(path):
            if not target.startswith("echo_orchestrator.") or target.endswith(".__version__"):
                continue
            other = part_of(target)
            if other in (part, "echo_orchestrator"):
                continue
            allowed = RULES.get(part)
            if allowed is not None and other not in allowed:
                broken.append(f"{name} imports {target} ({part} -> {other})")
            if part in TOP and other in NEVER_FROM_TOP.get(part, set()):
                broken.append(f"{name} imports {target} ({part} -> {other})")
            if part not in RULES and part not in TOP:
                broken.append(f"{name}: part '{part}' has no rule in docs/architecture.md")
    assert not broken, "\n".join(sorted(set(broken)))


def test_no_import_circle() -> None:
    found = modules()
    graph: dict[str, set[str]] = {name: set() for name in found}
    for name, path in found.items():
        for target in imports(path):
            while target and target not in found:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("echo_orchestrator"):
                graph[name].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                circles.append(sorted(members))

    for node in graph:
        if node not in index:
            visit(node)
    assert not circles, circles


def test_only_the_api_imports_litestar() -> None:
    outside = [
        name
        for name, path in modules().items()
        if part_of(name) != "api" and any(t == "litestar" or t.startswith("litestar.") for t in imports(path))
    ]
    assert not outside, outside


def test_modules_and_functions_stay_readable() -> None:
    too_long = []
    for name, path in modules().items():
        text = path.read_text()
        if text.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (node.end_lineno or 0) - node.lineno + 1 > MAX_FUNCTION_LINES:
                too_long.append(f"{name}.{node.name}: {(node.end_lineno or 0) - node.lineno + 1} lines")
    assert not too_long, too_long


def test_every_exception_class_lives_in_errors() -> None:
    elsewhere = []
    for name, path in modules().items():
        if name == "echo_orchestrator.errors":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases}
                if any(b.endswith(("Error", "Exception")) or b in ("EchoError", "Invalid", "Conflict") for b in bases):
                    elsewhere.append(f"{name}.{node.name}")
    assert not elsewhere, elsewhere
