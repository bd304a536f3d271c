"""Check a whole storage folder without starting anything: what `echo-orchestrator validate` runs."""

from __future__ import annotations

from pathlib import Path

import msgspec

from echo_orchestrator.store.index import DefinitionIndex
from echo_orchestrator.store.layout import Layout
from echo_orchestrator.store.loader import Problem, candidate_files, load


class CheckReport(msgspec.Struct, kw_only=True):
    files: int
    problems: list[Problem]


def check_storage(root: Path) -> CheckReport:
    layout = Layout(root)
    index = DefinitionIndex()
    files = sorted(candidate_files(layout))
    for path in files:
        index.apply(load(layout, path))
    problems = sorted(index.problems.values(), key=lambda p: p.file)
    for slug, ids in sorted(index.slug_conflicts().items()):
        problems.append(Problem("workflows", "slug", f"slug '{slug}' is used by several workflows: {', '.join(ids)}"))
    return CheckReport(files=len(files), problems=problems)
