"""Definition storage: agents and workflows as JSON files, indexed in memory, watched."""

from __future__ import annotations

from echo_orchestrator.store.base import DefinitionStore, Page, Problem, StoreCounts, WorkflowQuery, WorkflowSummary
from echo_orchestrator.store.files import FileDefinitionStore
from echo_orchestrator.store.layout import Layout

__all__ = [
    "DefinitionStore",
    "FileDefinitionStore",
    "Layout",
    "Page",
    "Problem",
    "StoreCounts",
    "WorkflowQuery",
    "WorkflowSummary",
]
