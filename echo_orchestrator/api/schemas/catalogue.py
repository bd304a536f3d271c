"""The workflow catalogue's requests and answers (ouroboros document, Workflow Service
Endpoints). The catalogue and analytics services' results are answered as they are."""

from __future__ import annotations

from typing import Any

import msgspec

from echo_orchestrator.api.schemas.base import StrictBody
from echo_orchestrator.models import Step
from echo_orchestrator.models.base import FreeForm
from echo_orchestrator.services.analytics import WorkflowAnalyticsView
from echo_orchestrator.services.catalogue import (
    ArchiveResult,
    CatalogueItem,
    InputFieldsView,
    InputValidation,
    MiscView,
    StepsView,
    WorkflowCreated,
    WorkflowDetail,
)

__all__ = [
    "ArchiveResult",
    "InputFieldsView",
    "InputValidation",
    "MiscView",
    "Step",
    "StepsView",
    "WorkflowAnalyticsView",
    "WorkflowCreated",
    "WorkflowDetail",
]


class CatalogueList(msgspec.Struct, kw_only=True):
    workflows: list[CatalogueItem]
    total: int
    limit: int
    offset: int


class ValidateInputRequest(StrictBody, kw_only=True, forbid_unknown_fields=True):
    """`inputs` as the document names it (`input` is taken too, as on the execute routes)."""

    inputs: FreeForm | None = None
    input: FreeForm | None = None

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.inputs if self.inputs is not None else self.input or {})
