"""Plugins: graphs, tools and LLM providers from entry points and the drop-in folder.

Plugin authors import `GraphSpec`, `ToolSpec`, `tool`, `ProviderSpec` from here.
"""

from __future__ import annotations

from echo_orchestrator.registry.registry import PluginProblem, PluginRegistry, RegistrySnapshot
from echo_orchestrator.registry.spec import GraphContext, GraphSpec, ProviderSpec, ProviderStatus, ToolSpec, tool

__all__ = [
    "GraphContext",
    "GraphSpec",
    "PluginProblem",
    "PluginRegistry",
    "ProviderSpec",
    "ProviderStatus",
    "RegistrySnapshot",
    "ToolSpec",
    "tool",
]
