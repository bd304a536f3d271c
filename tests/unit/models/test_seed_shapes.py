"""The models accept every field the two API documents show for agents and workflows."""

from __future__ import annotations

import msgspec
import pytest

from echo_orchestrator.models import Agent, Event, Execution, McpSettings, StepExecution, Workflow

REGISTER_AGENT = {
    "agent_id": "custom_agt_001",
    "name": "Custom Analyzer",
    "role": "Data Analysis",
    "description": "Analyzes complex datasets",
    "llm": {"provider": "openai", "model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 2000},
    "tools": ["tool_001", "tool_002"],
    "input_schema": ["input_data", "parameters"],
    "output_schema": ["analysis_result", "metrics"],
    "constraints": {"max_steps": 5, "timeout_seconds": 30, "budget_tokens": 5000},
    "permissions": {"can_call_agents": False, "allowed_agents": []},
    "metadata": {"registered_at": "2026-01-15T10:00:00"},
}

DESIGNED_WORKFLOW = {
    "workflow_id": "wf_abc123",
    "name": "Workflow from prompt",
    "description": "Create a workflow to analyze sales data...",
    "status": "draft",
    "version": "0.1",
    "execution_model": "hierarchical",
    "agents": ["agt_001", "agt_002"],
    "connections": [{"from": "agt_001", "to": "agt_002"}],
    "hierarchy": {"master_agent": "agt_001", "delegation_order": ["agt_002"]},
    "state_schema": {},
    "human_in_loop": {"enabled": False, "review_points": []},
    "metadata": {"created_by": "designer", "created_at": "2026-01-15T10:00:00", "tags": ["auto-generated"]},
}

CATALOGUE_WORKFLOW = {
    "workflow_id": "wf_xyz789",
    "slug": "business-plan-optimization",
    "name": "Business Plan Optimization",
    "description": "Comprehensive business plan analysis and optimization",
    "category": "business",
    "tags": ["business", "planning", "optimization"],
    "version": "1.2.0",
    "graph_name": "ASIS",
    "strategy_definition": {
        "steps": [
            {
                "step_number": 1,
                "name": "Initial Analysis",
                "description": "Analyze current business plan and identify key areas for improvement",
                "estimated_duration": 120,
                "dependencies": [],
                "parallel_execution": False,
                "retry_policy": {"max_retries": 3, "retry_delay": 10, "exponential_backoff": True},
                "mcp_tools": [],
                "input_schema": {"type": "object", "properties": {"business_plan": {"type": "string"}}},
                "output_schema": {"type": "object", "properties": {"analysis_results": {"type": "string"}}},
            },
            {
                "step_number": 2,
                "name": "Market Research",
                "description": "Research market conditions and competitors",
                "estimated_duration": 180,
                "dependencies": [1],
                "requires_mcp": ["perplexity", "apify"],
            },
        ]
    },
    "input_fields": [
        {
            "name": "business_type",
            "type": "string",
            "required": True,
            "description": "Type of business",
            "validation": {"enum": ["retail", "service", "manufacturing", "technology"]},
            "default": None,
        },
        {"name": "budget", "type": "number", "required": True, "validation": {"minimum": 1000}},
    ],
    "misc_data": {"author": "Ouroboros Team", "license": "proprietary"},
}


def test_agent_register_body() -> None:
    agent = msgspec.convert(REGISTER_AGENT, Agent)
    assert agent.constraints.budget_tokens == 5000 and agent.llm.max_tokens == 2000


def test_designed_workflow() -> None:
    wf = msgspec.convert(DESIGNED_WORKFLOW, Workflow)
    assert wf.connections[0].from_ == "agt_001" and wf.hierarchy is not None


def test_catalogue_workflow() -> None:
    wf = msgspec.convert(CATALOGUE_WORKFLOW, Workflow)
    assert wf.key == "business-plan-optimization"
    assert wf.strategy_definition.steps[1].dependencies == [1]
    assert wf.strategy_definition.steps[0].retry_policy is not None


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"workflow_id": "../etc"}, "workflow_id"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"version": "v1"}, "version"),
        ({"execution_model": "mesh"}, "execution_model"),
        ({"category": "sports"}, "category"),
        ({"agnets": []}, "agnets"),
    ],
)
def test_bad_workflow_fields_are_named(patch: dict[str, object], field: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=field):
        msgspec.convert({**CATALOGUE_WORKFLOW, **patch}, Workflow)


def test_runtime_records_and_mcp_settings() -> None:
    execution = msgspec.convert(
        {
            "execution_id": "wfexec_abc123",
            "kind": "workflow",
            "workflow_slug": "business-plan-optimization",
            "status": "running",
            "progress": {"current_step": 2, "total_steps": 5, "percentage": 40},
            "started_at": "2025-10-24T12:00:00Z",
            "metadata": {"user_id": "user_123"},
        },
        Execution,
    )
    assert execution.progress.percentage == 40
    step = msgspec.convert(
        {
            "step_execution_id": "stepexec_abc123",
            "execution_id": "wfexec_xyz789",
            "step_number": 2,
            "step_name": "Market Research",
            "status": "retrying",
            "llm_calls": [{"provider": "openai", "model": "gpt-4", "total_tokens": 2500, "cost_usd": 0.075}],
            "mcp_tools_used": ["perplexity-search"],
        },
        StepExecution,
    )
    assert step.llm_calls[0].total_tokens == 2500
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"execution_id": "x", "kind": "workflow", "status": "cancelling"}, Execution)
    event = msgspec.convert(
        {"event_id": "evt_1", "execution_id": "x", "seq": 1, "event_type": "step_started", "timestamp": "2025-10-24T12:00:01Z"},
        Event,
    )
    assert event.seq == 1
    settings = msgspec.json.decode(b'{"mcpServers": {"time": {"command": "uvx", "args": ["mcp-server-time"]}}}', type=McpSettings)
    assert settings.mcp_servers["time"].command == "uvx"
