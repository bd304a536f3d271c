"""The designer: offline from clauses, and with a model (validated, retried)."""

from __future__ import annotations

import json

import pytest

from echo_orchestrator.engine.designer import design, design_offline, shorten, slugify
from echo_orchestrator.engine.llm.echo import EchoChatModel
from echo_orchestrator.engine.validation import validate_draft
from echo_orchestrator.models import LLMConfig

pytestmark = pytest.mark.anyio

PROMPTS = {
    "Create a workflow to analyze sales data and generate insights": ("sequential", ["Analyzer", "Synthesizer"]),
    "Research competitors, summarize findings and write a report": ("sequential", ["Researcher", "Synthesizer", "Writer"]),
    "A manager delegates research and writing of a blog post": ("hierarchical", ["Researcher", "Writer", "Coordinator"]),
    "Translate the document and review it in parallel": ("parallel", ["Translator", "Reviewer"]),
    "Extract invoices; classify them, then report totals": ("sequential", ["Extractor", "Classifier", "Reporter"]),
    "Onboard the new customer": ("sequential", ["Worker"]),
}


@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_offline_designs_pass_draft_validation(prompt: str) -> None:
    result = design_offline(prompt, LLMConfig(provider="openai", model="gpt-4o-mini", temperature=0.2))
    model, names = PROMPTS[prompt]
    assert result.workflow.execution_model == model
    assert [a.name for a in result.agents.values()] == names
    report = validate_draft(result.workflow, result.agents)
    assert report.valid and report.warnings == [], report
    assert all(a.llm.model == "gpt-4o-mini" for a in result.agents.values())  # default_llm on every agent
    assert result.workflow.metadata["tags"] == ["auto-generated"]


def test_sales_prompt_matches_the_document() -> None:
    result = design_offline("Create a workflow to analyze sales data and generate insights", LLMConfig())
    analyzer, synthesizer = result.agents.values()
    assert (analyzer.role, analyzer.input_schema, analyzer.output_schema) == ("Data Analysis", ["input_data"], ["analysis_result"])
    assert (synthesizer.role, synthesizer.input_schema, synthesizer.output_schema) == (
        "Result Synthesis",
        ["analysis_result"],
        ["final_output"],
    )
    assert [(c.from_, c.to) for c in result.workflow.connections] == [(analyzer.agent_id, synthesizer.agent_id)]


GOOD = {
    "name": "Churn study",
    "execution_model": "sequential",
    "agents": [
        {"key": "miner", "name": "Miner", "role": "Data mining", "input_schema": ["input_data"], "output_schema": ["signals"]},
        {"key": "advisor", "name": "Advisor", "role": "Advice", "input_schema": ["signals"], "output_schema": ["final_output"]},
    ],
    "connections": [{"from": "miner", "to": "advisor"}],
}


async def test_model_design_is_validated_and_retried() -> None:
    invalid = {**GOOD, "connections": [{"from": "miner", "to": "ghost"}]}
    llm = LLMConfig(provider="echo", responses=["not json at all", json.dumps(invalid), "```json\n" + json.dumps(GOOD) + "\n```"])
    model = EchoChatModel(responses=list(llm.responses or []))
    result = await design("Study churn and advise", llm, lambda _: model)
    assert result.designed_by == "llm" and result.notes == ["designed by the model in 3 attempt(s)"]
    assert [a.name for a in result.agents.values()] == ["Miner", "Advisor"]
    assert validate_draft(result.workflow, result.agents).valid


async def test_model_that_never_answers_well_falls_back_offline() -> None:
    model = EchoChatModel(responses=["nope"])
    result = await design("Analyze logs and write a summary", LLMConfig(), lambda _: model)
    assert result.designed_by == "offline" and "no valid design in 3 attempts" in result.notes[0]


async def test_plain_echo_designs_offline() -> None:
    result = await design("Analyze logs", LLMConfig(), lambda _: EchoChatModel())
    assert result.designed_by == "offline"


def test_names_and_slugs_are_cut_at_words() -> None:
    assert shorten("short enough", 60) == "short enough"
    assert shorten("analyze the quarterly sales figures of every office", 30) == "analyze the quarterly sales…"
    assert shorten("Supercalifragilisticexpialidocious", 10) == "Supercali…"  # one long word: cut
    assert slugify("Market Research") == "market-research"
    long = slugify("Analyze the quarterly sales figures of every regional office and compare them")
    assert long == "analyze-the-quarterly-sales-figures-of" and len(long) <= 40
    assert slugify("!!!") == "workflow" and slugify("x" * 80) == "x" * 40
