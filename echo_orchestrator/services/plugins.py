"""The plugin registry and the model factory, built together from the settings: each
looks things up in the other (providers come from plugins; graphs are built with models)."""

from __future__ import annotations

from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.registry import PluginRegistry
from echo_orchestrator.security.egress import EgressPolicy
from echo_orchestrator.settings import Settings


def build_registry(settings: Settings) -> tuple[PluginRegistry, ModelFactory]:
    """The plugin registry and the model factory, which depend on each other's lookups."""
    registry: PluginRegistry
    models = ModelFactory(lambda name: registry.provider(name), EgressPolicy(settings.llm_allowed_base_urls))
    registry = PluginRegistry(settings.plugins_dir, EngineGraphContext(models))
    return registry, models
