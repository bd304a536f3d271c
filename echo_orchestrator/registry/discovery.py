"""Finding plugins: entry points of installed distributions, and drop-in folders.

A drop-in plugin is a source folder under the plugins folder with a `pyproject.toml`
declaring the same entry points an installed one would. Its modules are imported from
that folder without installing it (and without touching `sys.path`), and re-imported when
it changes.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import shutil
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

GROUPS: dict[str, str] = {
    "echo_orchestrator.graphs": "graph",
    "echo_orchestrator.tools": "tool",
    "echo_orchestrator.llm_providers": "llm_provider",
}
OWN_DISTRIBUTION = "echo-orchestrator"

OriginKind = Literal["builtin", "installed", "drop-in"]


@dataclass(frozen=True, slots=True)
class Origin:
    kind: OriginKind
    distribution: str
    version: str | None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One declared entry point, not yet imported."""

    group: str
    name: str
    value: str  # "package.module:attribute"
    origin: Origin
    import_root: Path | None = None  # drop-ins: the folder their modules are imported from


@dataclass(frozen=True, slots=True)
class DropInFailure:
    folder: Path
    error: str


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def installed_candidates() -> list[Candidate]:
    seen: set[str] = set()
    found: list[Candidate] = []
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        key = _normalise(name)
        if not key or key in seen:
            continue  # the same distribution visible twice on sys.path: the first wins, as for imports
        seen.add(key)
        kind: OriginKind = "builtin" if key == OWN_DISTRIBUTION else "installed"
        for ep in dist.entry_points:
            if ep.group in GROUPS:
                found.append(Candidate(ep.group, ep.name, ep.value, Origin(kind, name, dist.version)))
    return sorted(found, key=lambda c: (c.origin.kind != "builtin", c.origin.distribution, c.group, c.name))


def dropin_candidates(plugins_dir: Path | None) -> tuple[list[Candidate], list[DropInFailure]]:
    if plugins_dir is None or not plugins_dir.is_dir():
        return [], []
    found: list[Candidate] = []
    failures: list[DropInFailure] = []
    for folder in sorted(p for p in plugins_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue  # not a plugin (docs, caches)
        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
            name = str(project.get("name") or folder.name)
            version = project.get("version")
            entry_points: dict[str, dict[str, str]] = project.get("entry-points", {})
        except (OSError, tomllib.TOMLDecodeError, AttributeError) as exc:
            failures.append(DropInFailure(folder, f"pyproject.toml: {exc}"))
            continue
        declared = {g: eps for g, eps in entry_points.items() if g in GROUPS}
        if not declared:
            failures.append(DropInFailure(folder, f"pyproject.toml declares no entry points in {', '.join(GROUPS)}"))
            continue
        root = folder / "src" if (folder / "src").is_dir() else folder
        origin = Origin("drop-in", name, str(version) if version else None, str(folder))
        for group, eps in sorted(declared.items()):
            for ep_name, value in sorted(eps.items()):
                found.append(Candidate(group, ep_name, str(value), origin, import_root=root))
    return found, failures


def _from_root(module: Any, root: Path) -> bool:
    origin = getattr(module, "__file__", None)
    return origin is not None and Path(origin).resolve().is_relative_to(root.resolve())


def forget_modules(root: Path) -> None:
    """Drop every imported module that was loaded from `root`, so the next import re-reads it.

    The plugin's bytecode caches go too: a `.pyc` records its source's mtime in whole
    seconds and its size, so an edit of the same size within a second would otherwise be
    served from the stale cache.
    """
    for name, module in list(sys.modules.items()):
        if module is not None and _from_root(module, root):
            del sys.modules[name]
    for cache in root.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    importlib.invalidate_caches()


def _import_from(root: Path, module_name: str) -> Any:
    top = module_name.split(".")[0]
    loaded = sys.modules.get(top)
    if loaded is None or not _from_root(loaded, root):
        # A same-named package from elsewhere (another drop-in folder) leaves its
        # submodules behind; they must not be mistaken for this plugin's.
        for name in [n for n in sys.modules if n == top or n.startswith(f"{top}.")]:
            del sys.modules[name]
        spec = importlib.machinery.PathFinder.find_spec(top, [str(root)])
        if spec is None or spec.loader is None:
            raise ModuleNotFoundError(f"no module named {top!r} in {root}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[top] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(top, None)
            raise
    return importlib.import_module(module_name)


def load_object(candidate: Candidate) -> Any:
    """Import what an entry point names (raises whatever the plugin's import raises)."""
    module_name, _, attribute = candidate.value.partition(":")
    module_name = module_name.strip()
    module = _import_from(candidate.import_root, module_name) if candidate.import_root is not None else importlib.import_module(module_name)
    obj: Any = module
    for part in filter(None, attribute.strip().split(".")):
        obj = getattr(obj, part)
    return obj
