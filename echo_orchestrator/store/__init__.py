"""Definition storage: agents and workflows as JSON files, indexed in memory, watched."""

from __future__ import annotations

from echo_orchestrator.store.base import DefinitionStore, Page, StoreCounts
from echo_orchestrator.store.files import FileDefinitionStore
from echo_orchestrator.store.index import WorkflowQuery, WorkflowSummary
from echo_orchestrator.store.layout import Layout
from echo_orchestrator.store.loader import Problem

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
