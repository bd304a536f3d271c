"""Check a whole storage folder without starting anything: what `echo-orchestrator validate` runs."""

from __future__ import annotations

from pathlib import Path

import msgspec

from echo_orchestrator.store.definitions.base import Problem
from echo_orchestrator.store.definitions.index import DefinitionIndex
from echo_orchestrator.store.definitions.layout import Layout
from echo_orchestrator.store.definitions.loader import candidate_files, load


class CheckReport(msgspec.Struct, kw_only=True):
    files: int
    problems: list[Problem]


def check_storage(root: Path) -> CheckReport:
    layout = Layout(root)
    index = DefinitionIndex()
    files = candidate_files(layout)
    # Oldest first, as the server loads them: of two files claiming a slug, the earlier keeps it.
    for loaded in sorted((load(layout, path) for path in files), key=lambda item: item.signature or (0, 0, 0)):
        index.apply(loaded)
    return CheckReport(files=len(files), problems=all_problems(index))


def all_problems(index: DefinitionIndex) -> list[Problem]:
    """Files that do not load, and workflows claiming a slug another workflow holds."""
    problems = sorted(index.problems.values(), key=lambda p: p.file)
    for slug, (holder, *newcomers) in sorted(index.slug_conflicts().items()):
        for newcomer in newcomers:
            problems.append(
                Problem(
                    "workflows",
                    "slug",
                    f"workflow '{newcomer}' claims slug '{slug}', which workflow '{holder}' holds: give '{newcomer}' another slug",
                )
            )
    for trigger_id, ((holder, _), *others) in sorted(index.triggers().items()):
        for workflow_id, _ in others:
            problems.append(
                Problem(
                    "workflows",
                    "triggers",
                    f"workflow '{workflow_id}' declares webhook trigger '{trigger_id}', which workflow '{holder}' declares: give it another id",
                )
            )
    for schedule_id, schedule in sorted(index.schedules.items()):
        if schedule.workflow is not None and index.resolve(schedule.workflow) is None:
            problems.append(
                Problem(
                    f"schedules/{schedule_id}.json",
                    "workflow",
                    f"no workflow has the id or slug '{schedule.workflow}': its fires would fail",
                )
            )
    return problems
