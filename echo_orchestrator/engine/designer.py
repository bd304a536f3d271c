"""Designing a workflow from a prompt.

With a configured model the designer asks it for a structured workflow (agents with
roles, state keys, connections, execution model), parses and validates the answer, and
asks again with the problems when it is invalid (up to three attempts). Offline (the
`echo` provider without scripted replies) a deterministic designer derives the agents from
the prompt's clauses: "analyze sales data and generate insights" gives an Analyzer and a
Synthesizer, chained. Either way the result passes draft validation.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from echo_orchestrator.engine.llm.echo import EchoChatModel
from echo_orchestrator.engine.validation import validate_draft
from echo_orchestrator.errors import Invalid
from echo_orchestrator.models import (
    Agent,
    AgentConstraints,
    AgentPermissions,
    Connection,
    Hierarchy,
    HumanInLoop,
    InputField,
    LLMConfig,
    Workflow,
    new_id,
    utcnow_iso,
)

MAX_ATTEMPTS = 3

# verb stem -> (agent name, role, output key); the first match in a clause wins
_ROLES: list[tuple[tuple[str, ...], str, str, str]] = [
    (("analy", "examin", "evaluat", "assess", "inspect"), "Analyzer", "Data Analysis", "analysis_result"),
    (("research", "investigat", "search", "find", "gather", "collect", "fetch"), "Researcher", "Research", "research_notes"),
    (("extract", "parse", "scrap"), "Extractor", "Information Extraction", "extracted_data"),
    (("classif", "categori", "tag", "sort"), "Classifier", "Classification", "classification"),
    (("plan", "outline", "design", "strateg"), "Planner", "Planning", "plan"),
    (("translat",), "Translator", "Translation", "translation"),
    (("summari", "synthesi", "insight", "conclu", "recommend"), "Synthesizer", "Result Synthesis", "synthesis"),
    (("review", "check", "verif", "validat", "proofread", "critiq", "audit"), "Reviewer", "Quality Review", "review"),
    (("writ", "draft", "compos"), "Writer", "Content Writing", "draft"),
    (("report", "present", "publish", "format"), "Reporter", "Reporting", "report"),
]
_LEAD = re.compile(
    r"^\s*(?:please\s+)?(?:create|build|make|design)\s+(?:a|an|the)?\s*(?:\w+\s+)?(?:workflow|pipeline|process)\s+(?:to|that|which|for)\s+",
    re.I,
)
_SPLIT = re.compile(r"\s*(?:,\s*(?:and\s+|then\s+)?|;\s*|\s+and\s+then\s+|\s+then\s+|\s+and\s+|\s+finally\s+)", re.I)


@dataclass
class Design:
    workflow: Workflow
    agents: dict[str, Agent]
    designed_by: str  # "llm" | "offline"
    notes: list[str] = field(default_factory=list)


SLUG_WORDS_MAX = 40  # characters of words in a made slug (a short suffix may follow)
NAME_MAX = 60


def shorten(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """`text` cut to at most `limit` characters at a word boundary (never mid-word), with
    `ellipsis` when something was cut; a single word longer than the limit is cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = limit - len(ellipsis)
    cut = text[: room + 1].rsplit(" ", 1)[0] if " " in text[: room + 1] else text[:room]
    return cut.rstrip(" ,;:-") + ellipsis


def slugify(text: str) -> str:
    """Lower-case words joined by `-`, at most SLUG_WORDS_MAX characters, whole words only."""
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    slug = ""
    for word in words:
        joined = f"{slug}-{word}" if slug else word
        if len(joined) > SLUG_WORDS_MAX:
            break
        slug = joined
    return slug or (words[0][:SLUG_WORDS_MAX] if words else "workflow")


def _clauses(prompt: str) -> list[str]:
    body = _LEAD.sub("", prompt.strip().rstrip("."))
    return [c.strip() for c in _SPLIT.split(body) if c and c.strip()]


def _execution_model(prompt: str) -> str:
    text = prompt.lower()
    if re.search(r"\b(supervis|manag|coordinat|delegat|orchestrat)", text):
        return "hierarchical"
    if re.search(r"\b(in parallel|simultaneous|at the same time|concurrent)", text):
        return "parallel"
    return "sequential"


# Verbs that say only that something is made: the object decides ("generate insights" is
# a synthesis); alone they mean writing ("generate a blog post").
_GENERIC = ("generat", "creat", "produc", "mak", "build")


def _role_of(clause: str) -> tuple[str, str, str]:
    """(name, role, output key) from the clause's words, earliest word first: the leading
    verb decides ("summarize findings" is a synthesis, not a search)."""
    words = re.findall(r"[a-z]+", clause.lower())
    for word in words:
        for stems, name, role, key in _ROLES:
            if word.startswith(stems):
                return name, role, key
    if any(word.startswith(_GENERIC) for word in words):
        return "Writer", "Content Writing", "draft"
    return "Worker", shorten(clause, NAME_MAX).capitalize(), "result"


def design_offline(prompt: str, llm: LLMConfig) -> Design:
    clauses = [c for c in _clauses(prompt) if c.strip()] or [prompt.strip()]
    if not any(ch.isalnum() for ch in prompt):
        raise Invalid.at("prompt", "no words", "prompt must describe the work in words")
    model = _execution_model(prompt)
    agents: dict[str, Agent] = {}
    used_names: dict[str, int] = {}
    previous_key = "input_data"
    order: list[str] = []
    for index, clause in enumerate(clauses[:8]):
        name, role, key = _role_of(clause)
        used_names[name] = used_names.get(name, 0) + 1
        if used_names[name] > 1:
            name, key = f"{name} {used_names[name]}", f"{key}_{used_names[name]}"
        is_last = index == min(len(clauses), 8) - 1
        output = "final_output" if is_last and model == "sequential" else key
        agent_id = new_id("agt")
        agents[agent_id] = Agent(
            agent_id=agent_id,
            name=name,
            role=role,
            description=clause[0].upper() + clause[1:],
            llm=llm,
            input_schema=[previous_key if model == "sequential" else "input_data"],
            output_schema=[output],
        )
        order.append(agent_id)
        if model == "sequential":
            previous_key = output
    hierarchy = None
    if model == "hierarchical":
        coordinator_id = new_id("agt")
        agents[coordinator_id] = Agent(
            agent_id=coordinator_id,
            name="Coordinator",
            role="Coordination",
            description="Plans the work, delegates each part, and assembles the final answer.",
            llm=llm,
            input_schema=["input_data"],
            output_schema=["final_output"],
            constraints=AgentConstraints(max_steps=len(order) + 1),
            permissions=AgentPermissions(can_call_agents=True),
        )
        hierarchy = Hierarchy(master_agent=coordinator_id, delegation_order=list(order))
        order = [coordinator_id, *order]
    connections = [Connection(from_=a, to=b) for a, b in itertools.pairwise(order)] if model == "sequential" else []
    workflow = _workflow(prompt, model, order, connections, hierarchy)
    return Design(workflow=workflow, agents=agents, designed_by="offline")


def _workflow(
    prompt: str, model: str, order: list[str], connections: list[Connection], hierarchy: Hierarchy | None, name: str | None = None
) -> Workflow:
    title = name or prompt.strip().rstrip(".") or "Workflow from prompt"
    title = shorten(_LEAD.sub("", title).strip() or title, NAME_MAX)
    workflow_id = new_id("wf")
    return Workflow(
        workflow_id=workflow_id,
        slug=f"{slugify(title)}-{workflow_id[-4:]}",
        name=title[0].upper() + title[1:] if title else "Workflow from prompt",
        description=prompt.strip(),
        status="draft",
        version="0.1",
        execution_model=model,  # type: ignore[arg-type]
        agents=order,
        connections=connections,
        hierarchy=hierarchy,
        human_in_loop=HumanInLoop(enabled=False, review_points=[]),
        input_fields=[InputField(name="input_data", type="string", required=True, description="The material to work on")],
        metadata={"created_by": "designer", "created_at": utcnow_iso(), "tags": ["auto-generated"]},
    )


# -- with a model -------------------------------------------------------------------------

_SYSTEM = """You design multi-agent workflows. Answer with one JSON object and nothing else:
{"name": str, "execution_model": "sequential"|"parallel"|"hierarchical"|"hybrid",
 "agents": [{"key": str, "name": str, "role": str, "description": str,
             "input_schema": [state keys it reads], "output_schema": [state keys it writes]}],
 "connections": [{"from": agent key, "to": agent key, "condition": str|null}],
 "master_agent": agent key or null}
Rules: the first agent reads "input_data"; each state key is written by exactly one agent;
connections name agent keys; a hierarchical workflow names its master_agent."""


# The answer format, for a model outside the service too (the MCP server face's prompt).
DESIGN_FORMAT = _SYSTEM


def as_answer(design: Design) -> dict[str, Any]:
    """A design in the answer format the model is asked for (agents keyed by their ids)."""
    workflow = design.workflow
    return {
        "name": workflow.name,
        "execution_model": workflow.execution_model,
        "agents": [
            {
                "key": agent_id,
                "name": agent.name,
                "role": agent.role,
                "description": agent.description,
                "input_schema": list(agent.input_schema),
                "output_schema": list(agent.output_schema),
            }
            for agent_id, agent in design.agents.items()
        ],
        "connections": [{"from": c.from_, "to": c.to, "condition": c.condition} for c in workflow.connections],
        "master_agent": workflow.hierarchy.master_agent if workflow.hierarchy is not None else None,
    }


class _DesignedAgent(msgspec.Struct, kw_only=True):
    key: str
    name: str
    role: str
    description: str = ""
    input_schema: list[str] = msgspec.field(default_factory=list)
    output_schema: list[str] = msgspec.field(default_factory=list)


class _DesignedConnection(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    from_: str
    to: str
    condition: str | None = None


class _DesignAnswer(msgspec.Struct, kw_only=True):
    name: str = ""
    execution_model: str = "sequential"
    agents: list[_DesignedAgent]
    connections: list[_DesignedConnection] = msgspec.field(default_factory=list)
    master_agent: str | None = None


def _json_object(text: str) -> str:
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if start != -1 and end > start else text


def _from_answer(prompt: str, answer: _DesignAnswer, llm: LLMConfig) -> Design:
    ids = {a.key: new_id("agt") for a in answer.agents}
    agents = {
        ids[a.key]: Agent(
            agent_id=ids[a.key],
            name=a.name,
            role=a.role,
            description=a.description,
            llm=llm,
            input_schema=a.input_schema,
            output_schema=a.output_schema,
        )
        for a in answer.agents
    }
    model = answer.execution_model if answer.execution_model in ("sequential", "parallel", "hierarchical", "hybrid") else "sequential"
    connections = [Connection(from_=ids.get(c.from_, c.from_), to=ids.get(c.to, c.to), condition=c.condition) for c in answer.connections]
    hierarchy = None
    if model == "hierarchical" and answer.master_agent is not None:
        master = ids.get(answer.master_agent, answer.master_agent)
        hierarchy = Hierarchy(master_agent=master, delegation_order=[i for i in ids.values() if i != master])
        if master in agents:
            agents[master].permissions.can_call_agents = True
    workflow = _workflow(prompt, model, list(ids.values()), connections, hierarchy, name=answer.name or None)
    return Design(workflow=workflow, agents=agents, designed_by="llm")


async def design_with_model(prompt: str, llm: LLMConfig, model: BaseChatModel) -> Design:
    messages: list[BaseMessage] = [SystemMessage(_SYSTEM), HumanMessage(prompt)]
    problems: list[str] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        reply = await model.ainvoke(messages)
        text = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
        try:
            answer = msgspec.json.decode(_json_object(text).encode(), type=_DesignAnswer)
            design = _from_answer(prompt, answer, llm)
            report = validate_draft(design.workflow, design.agents)
            problems = report.errors
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            problems = [f"the answer is not the JSON object asked for: {exc}"]
        if not problems:
            design.notes.append(f"designed by the model in {attempt} attempt(s)")
            return design
        messages += [
            AIMessage(text),
            HumanMessage("That design is invalid:\n- " + "\n- ".join(problems) + "\nAnswer again with a corrected JSON object."),
        ]
    fallback = design_offline(prompt, llm)
    fallback.notes.append(f"the model gave no valid design in {MAX_ATTEMPTS} attempts ({'; '.join(problems)[:300]}); designed offline")
    return fallback


def can_design(model: BaseChatModel) -> bool:
    """The plain offline echo model cannot design; echo with scripted replies (tests) can."""
    return not (isinstance(model, EchoChatModel) and not model.responses)


async def design(prompt: str, llm: LLMConfig, model_for: Callable[[LLMConfig], BaseChatModel | None]) -> Design:
    model = model_for(llm)
    if model is not None and can_design(model):
        return await design_with_model(prompt, llm, model)
    return design_offline(prompt, llm)
