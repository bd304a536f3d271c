"""Draft and final validation: each rule, with messages naming what they are about."""

from __future__ import annotations

import pytest

from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.validation import Capabilities, graph_input_problems, validate_draft, validate_final
from echo_orchestrator.models import Agent, Connection, Hierarchy, HumanInLoop, InputField, LLMConfig, Step, StrategyDefinition, Workflow
from echo_orchestrator.registry.spec import ProviderStatus
from echo_orchestrator.services.plugins import build_registry
from echo_orchestrator.settings import Settings


def agent(agent_id: str, reads: list[str] | None = None, writes: list[str] | None = None, **fields: object) -> Agent:
    return Agent(agent_id=agent_id, input_schema=reads or ["input_data"], output_schema=writes or [f"{agent_id}_out"], **fields)  # type: ignore[arg-type]


AGENTS = {a: agent(a, reads=["input_data"]) for a in ("a", "b", "c")}
INPUTS = [InputField(name="input_data", required=True)]


def wf(**fields: object) -> Workflow:
    fields.setdefault("agents", ["a", "b"])
    fields.setdefault("input_fields", INPUTS)
    return Workflow(workflow_id="wf_1", **fields)  # type: ignore[arg-type]


def errors(workflow: Workflow, agents: dict[str, Agent] = AGENTS) -> list[str]:
    return validate_draft(workflow, agents).errors


def test_a_valid_sequential_workflow() -> None:
    report = validate_draft(wf(connections=[Connection(from_="a", to="b")]), AGENTS)
    assert (report.valid, report.errors, report.warnings) == (True, [], [])


@pytest.mark.parametrize(
    ("workflow", "expected"),
    [
        (wf(agents=["a", "agt_003"]), "Agent 'agt_003' not found"),
        (wf(agents=[]), "Workflow has no agents"),
        (wf(agents=["a", "a"]), "Agent 'a' is listed more than once"),
        (wf(connections=[Connection(from_="a", to="z")]), "Connection a -> z: 'z' is not a member of the workflow"),
        (wf(connections=[Connection(from_="a", to="b"), Connection(from_="b", to="a")]), "Connections form a cycle: a -> b -> a"),
        (
            wf(agents=["a", "b", "c"], connections=[Connection(from_="a", to="b"), Connection(from_="a", to="c")]),
            "Sequential workflow branches at 'a'",
        ),
        (wf(execution_model="hierarchical"), "Hierarchical workflow needs a hierarchy"),
        (wf(execution_model="hierarchical", hierarchy=Hierarchy(master_agent="z")), "Hierarchy master 'z' is not a member"),
        (wf(execution_model="hierarchical", hierarchy=Hierarchy(master_agent="a", delegation_order=["c"])), "Delegate 'c' is not a member"),
        (
            wf(execution_model="hybrid", connections=[Connection(from_="a", to="b"), Connection(from_="b", to="a")]),
            "Hybrid workflow has no start",
        ),
        (
            wf(
                execution_model="hybrid",
                agents=["a", "b", "c"],
                connections=[Connection(from_="a", to="b"), Connection(from_="b", to="c"), Connection(from_="c", to="b")],
            ),
            "Cycle b -> c -> b has no condition to leave it",
        ),
        (
            wf(execution_model="hybrid", connections=[Connection(from_="a", to="b", condition="open('x')")]),
            "Connection a -> b: Condition calls",
        ),
        (wf(human_in_loop=HumanInLoop(enabled=True, review_points=["z"])), "Review point 'z' is not a member agent"),
        (
            wf(strategy_definition=StrategyDefinition(steps=[Step(step_number=1, name="x", dependencies=[2])])),
            "Step 1 depends on step 2, which does not exist",
        ),
    ],
)
def test_draft_errors(workflow: Workflow, expected: str) -> None:
    assert any(e.startswith(expected) for e in errors(workflow)), errors(workflow)


def test_state_key_written_by_two_agents() -> None:
    agents = {"a": agent("a", writes=["missing_data"]), "b": agent("b", writes=["missing_data"])}
    assert "State key 'missing_data' written by multiple agents: a, b" in errors(wf(), agents)


def test_hybrid_loop_with_a_condition_is_allowed() -> None:
    loop = wf(
        execution_model="hybrid",
        agents=["a", "b", "c"],
        connections=[
            Connection(from_="a", to="b"),
            Connection(from_="b", to="c"),
            Connection(from_="c", to="b", condition="c_out == 'again'"),
        ],
    )
    assert errors(loop) == []


def test_warnings_name_what_they_are_about() -> None:
    agents = {"a": agent("a"), "b": agent("b", reads=["notes"])}
    report = validate_draft(wf(execution_model="parallel", connections=[Connection(from_="a", to="b")]), agents)
    assert "Parallel agents run independently; connections are ignored" in report.warnings
    assert "Agent 'b' reads 'notes', which no agent writes: it must come from the inputs" in report.warnings


@pytest.fixture(scope="module")
def capabilities() -> Capabilities:
    registry, models = build_registry(Settings(plugins_dir=None))  # type: ignore[arg-type]
    registry.load()
    return Capabilities(
        provider_status=lambda a: models.status(a.llm),
        llm_refusal=lambda a: models.egress_error(a.llm),
        tool_known=lambda t: t == "plugins-calculator",
        graph_known=lambda g: g == "ASIS",
        context=EngineGraphContext(models),
    )


def test_final_validation_checks_tools_providers_and_compilation(capabilities: Capabilities) -> None:
    agents = {
        "a": agent("a", tools=["plugins-calculator", "tool_001"]),
        "b": agent("b", llm=LLMConfig(provider="gemini", model="x")),
    }
    report = validate_final(wf(), agents, capabilities)
    assert "Tool 'tool_001' of agent 'a' is not available" in report.errors
    assert "Agent 'b': unknown LLM provider 'gemini'" in report.errors
    assert not any("plugins-calculator" in e for e in report.errors)


def test_final_validation_warns_about_a_provider_without_key(capabilities: Capabilities, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    agents = {"a": agent("a", llm=LLMConfig(provider="openai", model="gpt-4o-mini")), "b": agent("b")}
    report = validate_final(wf(), agents, capabilities)
    assert report.valid
    assert (
        "Agent 'a': provider 'openai' is not ready here: OPENAI_API_KEY is not set (or give a base_url for a local OpenAI-compatible server)"
        in report.warnings
    )


def test_final_validation_of_graph_steps(capabilities: Capabilities) -> None:
    steps = StrategyDefinition(
        steps=[Step(step_number=1, name="plan", graph_name="NOPE"), Step(step_number=2, name="calc", tool_id="plugins-calculator")]
    )
    report = validate_final(wf(strategy_definition=steps), AGENTS, capabilities)
    assert report.errors == ["Graph 'NOPE' of step 1 is not available"]


def test_provider_status_is_used_as_is() -> None:
    assert ProviderStatus(False, "x").reason == "x"


def test_input_fields_are_checked_when_a_workflow_is_validated() -> None:
    workflow = Workflow(
        workflow_id="wf_p",
        agents=[],
        graph_name="ASIS",
        input_fields=[
            InputField(name="task", required=True, validation={"pattern": "^(?!x).*$"}),
            InputField(name="task", type="integer"),
        ],
    )
    errors = validate_draft(workflow, {}).errors
    assert "Input field 'task' is listed more than once" in errors
    assert any(e.startswith("input_fields[0].validation.pattern: pattern") for e in errors), errors


def test_a_graph_workflow_provides_what_its_graph_requires() -> None:
    graph = {"type": "object", "required": ["task"], "properties": {"task": {"type": "string"}, "n": {"type": "number"}}}
    missing = Workflow(workflow_id="wf_g", graph_name="ASIS", input_fields=[InputField(name="industry", required=True)])
    assert graph_input_problems(missing, graph) == ["Graph 'ASIS' needs the input 'task', which no input field of the workflow provides"]
    optional = Workflow(workflow_id="wf_g", graph_name="ASIS", input_fields=[InputField(name="task")])
    assert "make the input field required or give it a default" in graph_input_problems(optional, graph)[0]
    typed = Workflow(
        workflow_id="wf_g", graph_name="ASIS", input_fields=[InputField(name="task", required=True), InputField(name="n", type="integer")]
    )
    assert graph_input_problems(typed, graph) == []  # an integer is a number
