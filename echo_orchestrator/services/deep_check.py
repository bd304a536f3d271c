"""`echo-orchestrator validate --deep`: beyond the file check, every workflow (draft, temp
copy, each final version) is validated as the server would before running it, compiled
graph included, against this machine's plugins, providers and configured MCP servers.
A shipped example that cannot run is caught here, not by its first user."""

from __future__ import annotations

from pathlib import Path

from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.validation import Capabilities, validate_final
from echo_orchestrator.models import McpSettings, Workflow
from echo_orchestrator.services.plugins import build_registry
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.definitions.base import Problem
from echo_orchestrator.store.definitions.index import DefinitionIndex
from echo_orchestrator.store.definitions.layout import Layout
from echo_orchestrator.store.definitions.loader import candidate_files, load, relative

PLUGIN_PREFIX = "plugins-"


def deep_problems(root: Path, settings: Settings) -> list[Problem]:
    layout = Layout(root)
    index = DefinitionIndex()
    for path in candidate_files(layout):
        index.apply(load(layout, path))
    registry, models = build_registry(settings)
    snapshot = registry.load()
    servers = set((index.mcp_settings or McpSettings()).mcp_servers) | set(snapshot.mcp_servers)

    def tool_known(tool_id: str) -> bool:
        # Plugin tools by name; an MCP server's tools are only known once connected, so a
        # configured server's prefix is accepted (the server checks at run time).
        if tool_id.startswith(PLUGIN_PREFIX):
            return tool_id.removeprefix(PLUGIN_PREFIX) in snapshot.tools
        return any(tool_id.startswith(f"{name}-") for name in servers)

    capabilities = Capabilities(
        provider_status=lambda agent: models.status(agent.llm),
        llm_refusal=lambda agent: models.egress_error(agent.llm),
        tool_known=tool_known,
        graph_known=lambda name: name in snapshot.graphs,
        context=EngineGraphContext(models),
        graph_spec=lambda name: registry.graph(name).obj,
    )
    problems: list[Problem] = []
    for entry in sorted(index.workflows.values(), key=lambda e: e.workflow_id):
        copies: list[tuple[Path, Workflow]] = []
        if entry.draft is not None:
            copies.append((layout.draft_path(entry.workflow_id), entry.draft))
        if entry.temp is not None:
            copies.append((layout.temp_path(entry.workflow_id), entry.temp))
        copies += [(layout.final_path(entry.workflow_id, v), w) for v, w in entry.finals.items()]
        for path, workflow in copies:
            agents = {a: index.agents[a] for a in workflow.agents if a in index.agents}
            report = validate_final(workflow, agents, capabilities)
            problems += [Problem(relative(layout, path), "(deep)", error) for error in report.errors]
    return problems
