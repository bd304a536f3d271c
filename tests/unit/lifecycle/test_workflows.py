"""The workflow lifecycle: which copy runs, what a catalogue shows, what may be saved."""

from __future__ import annotations

import pytest

from echo_orchestrator.errors import BadRequest
from echo_orchestrator.lifecycle import workflows as lifecycle
from echo_orchestrator.models import Agent
from tests.factories import workflow


def test_the_highest_final_runs_else_the_temp_copy_never_the_draft() -> None:
    finals = {v: workflow("wf_1", status="final", version=v) for v in ("1.9", "1.10", "1.2")}
    temp = workflow("wf_1", status="testing")
    assert lifecycle.runnable(finals, temp) is finals["1.10"]
    assert lifecycle.runnable({}, temp) is temp
    assert lifecycle.runnable({}, None) is None


def test_a_workflow_has_one_status_the_furthest_stage_it_reached() -> None:
    draft, temp = workflow("wf_1", status="validated"), workflow("wf_1", status="testing")
    assert lifecycle.catalogue_status(draft, None, has_finals=False) == "validated"
    assert lifecycle.catalogue_status(draft, temp, has_finals=False) == "testing"
    assert lifecycle.catalogue_status(workflow("wf_1", status="draft"), temp, has_finals=True) == "final"  # a clone being edited
    assert lifecycle.catalogue_status(workflow("wf_1", status="archived"), temp, has_finals=True) == "archived"
    # the filter `active` stands for the runnable statuses; every other filter is the status itself
    assert [s for s in ("draft", "validated", "testing", "final", "archived") if lifecycle.status_matches(s, "active")] == [
        "testing",
        "final",
    ]
    assert lifecycle.status_matches("draft", "draft") and not lifecycle.status_matches("final", "draft")


def test_only_a_validated_copy_is_saved_and_each_stage_marks_its_copy() -> None:
    with pytest.raises(BadRequest, match="validated before saving as temp"):
        lifecycle.require_validated(workflow("wf_1", status="draft"), "temp")
    validated = lifecycle.validated(workflow("wf_1"))
    lifecycle.require_validated(validated, "final")
    assert validated.status == "validated" and "validated_at" in validated.metadata
    temp = lifecycle.as_temp(validated)
    assert (temp.status, temp.metadata["is_temp"]) == ("testing", True) and lifecycle.mode_of(temp) == "test"
    final = lifecycle.as_final(temp, "2.0", {})
    assert (final.status, final.version, final.metadata["immutable"]) == ("final", "2.0", True)
    assert "is_temp" not in final.metadata and lifecycle.mode_of(final) == "final"
    assert validated.status == "validated" and temp.status == "testing"  # copies, not changed in place


def test_a_final_version_keeps_its_agents_and_only_it() -> None:
    member, other = Agent(agent_id="a1", role="then"), Agent(agent_id="a9")
    draft = workflow("wf_1", status="validated", agents=["a1"])
    final = lifecycle.as_final(draft, "1.0", {"a1": member, "a9": other})
    assert final.agent_definitions == {"a1": member}  # members only
    assert lifecycle.pinned_agents(final) == {"a1": member}
    # a temp copy, a draft and a clone of the version use the registry's agents
    for copy in (lifecycle.as_temp(final), lifecycle.validated(final), lifecycle.as_draft(final)):
        assert copy.agent_definitions is None and lifecycle.pinned_agents(copy) is None
    assert lifecycle.as_draft(final).metadata["base_version"] == "1.0"
    # a final saved before versions kept their agents runs the registry's
    assert lifecycle.pinned_agents(workflow("wf_1", status="final")) is None
    assert lifecycle.same_definition(final, draft)  # the kept agents are not an edit
