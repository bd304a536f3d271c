"""A workflow's lifecycle: which copy exists at each stage, which one runs, and what a
catalogue shows.

    draft ──validate──► validated ──save temp──► testing (the temp copy)
                            └──────save final──► final X.Y (immutable, one file per version)
    archived: a draft or temp copy marked so; hidden from lists unless asked for.

A workflow runs its highest final version, else its temp copy; a draft never runs. A
workflow has one status, shown and filtered alike: the furthest stage it has reached,
`archived`, else `final` (it has a saved version), else `testing` (a temp copy), else its
draft's (`draft` or `validated`). The filter `active` means runnable and not archived:
`final` or `testing`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

import msgspec

from echo_orchestrator.errors import BadRequest, Conflict
from echo_orchestrator.models import Agent, Workflow, utcnow_iso
from echo_orchestrator.models.versions import version_key

# The statuses a catalogue filters by: a workflow's statuses plus `active` (runnable, not archived).
CATALOGUE_STATUSES: Final = ("active", "archived", "draft", "validated", "testing", "final")
# What `active` stands for: the statuses of a workflow something of which runs.
RUNNABLE_STATUSES: Final = frozenset({"testing", "final"})
# A copy in one of these has passed full validation and may be saved as temp or final.
VALIDATED: Final = frozenset({"validated", "testing", "final"})

Mode = Literal["test", "final"]


def latest_final(finals: Mapping[str, Workflow]) -> Workflow | None:
    return finals[max(finals, key=version_key)] if finals else None


def runnable(finals: Mapping[str, Workflow], temp: Workflow | None) -> Workflow | None:
    """What runs when the workflow is executed by id or slug: the highest final, else the temp copy."""
    return latest_final(finals) or temp


def catalogue_status(draft: Workflow | None, temp: Workflow | None, has_finals: bool) -> str:
    """The workflow's one status: the furthest stage of its lifecycle it has reached."""
    if any(w is not None and w.status == "archived" for w in (draft, temp)):
        return "archived"
    if has_finals:
        return "final"
    if temp is not None:
        return "testing"
    assert draft is not None, "a workflow with no final version and no temp copy has a draft"
    return draft.status


def status_matches(status: str, wanted: str) -> bool:
    """Whether a workflow of this status is one the catalogue filter `wanted` asks for."""
    return status in RUNNABLE_STATUSES if wanted == "active" else status == wanted


def mode_of(workflow: Workflow) -> Mode:
    """How a copy runs: a final version in `final` mode, anything else as a test."""
    return "final" if workflow.status == "final" else "test"


def require_validated(workflow: Workflow, stage: str) -> None:
    if workflow.status not in VALIDATED:
        raise BadRequest(f"Workflow must be validated before saving as {stage}", details={"status": workflow.status})


def validated(workflow: Workflow) -> Workflow:
    """The draft after it passed full validation."""
    copy = msgspec.structs.replace(workflow, status="validated", agent_definitions=None)
    copy.metadata = {**workflow.metadata, "validated_at": utcnow_iso()}
    return copy


def as_temp(workflow: Workflow) -> Workflow:
    # A temp copy is for trying edits: it runs the registry's agents as they are now.
    copy = msgspec.structs.replace(workflow, status="testing", agent_definitions=None)
    copy.metadata = {**workflow.metadata, "is_temp": True, "saved_at": utcnow_iso()}
    return copy


def as_final(workflow: Workflow, version: str, agents: Mapping[str, Agent]) -> Workflow:
    """An immutable version, keeping the agents it was validated with: it runs those."""
    kept = {agent_id: agents[agent_id] for agent_id in workflow.agents if agent_id in agents}
    copy = msgspec.structs.replace(workflow, status="final", version=version, agent_definitions=kept)
    copy.metadata = {**workflow.metadata, "immutable": True, "finalized_at": utcnow_iso()}
    copy.metadata.pop("is_temp", None)
    return copy


ARCHIVED_FROM = "status_before_archive"


def archived(workflow: Workflow, *, had_draft: bool) -> Workflow:
    """The draft that marks a workflow archived: its draft (or, when it had none, a copy of
    what ran), remembering what to restore."""
    copy = msgspec.structs.replace(workflow, status="archived")
    copy.metadata = {**workflow.metadata, "archived_at": utcnow_iso(), ARCHIVED_FROM: workflow.status if had_draft else None}
    return copy


def unarchived(draft: Workflow) -> Workflow | None:
    """The draft as it was before archiving, or None when there was none (delete it)."""
    before = draft.metadata.get(ARCHIVED_FROM)
    if before is None:
        return None
    copy = msgspec.structs.replace(draft, status=before)
    copy.metadata = {k: v for k, v in draft.metadata.items() if k not in (ARCHIVED_FROM, "archived_at")}
    return copy


def require_not_archived(status: str, ref: str) -> None:
    if status == "archived":
        raise Conflict(f"Workflow '{ref}' is archived: unarchive it to run it", details={"workflow": ref, "status": status})


def as_draft(final: Workflow) -> Workflow:
    """A final version cloned for editing: a draft runs (and validates with) the registry's agents."""
    draft = msgspec.structs.replace(final, status="draft", agent_definitions=None)
    metadata = {k: v for k, v in final.metadata.items() if k not in ("immutable", "finalized_at", "validated_at")}
    draft.metadata = {**metadata, "base_version": final.version, "cloned_at": utcnow_iso()}
    return draft


def pinned_agents(workflow: Workflow) -> Mapping[str, Agent] | None:
    """The agents a copy keeps (a final version saved by this release), or None: it uses the
    registry's (drafts, temp copies, finals saved before versions kept their agents)."""
    return workflow.agent_definitions if workflow.status == "final" else None


def same_definition(a: Workflow, b: Workflow) -> bool:
    """Whether two copies define the same workflow, whatever their lifecycle marks (status,
    version, metadata): a draft equal to a saved copy holds no unsaved edits."""

    def bare(w: Workflow) -> Workflow:
        return msgspec.structs.replace(w, status="draft", version="0", metadata={}, agent_definitions=None)

    return bare(a) == bare(b)
