"""From an `llm` block to a chat model, through whichever provider the registry holds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from langchain_core.language_models import BaseChatModel

from echo_orchestrator.errors import ConfigurationError, Invalid
from echo_orchestrator.models import LLMConfig
from echo_orchestrator.registry.spec import ProviderSpec, ProviderStatus


def as_llm_config(llm: LLMConfig | Mapping[str, Any] | None) -> LLMConfig:
    if llm is None:
        return LLMConfig()
    if isinstance(llm, LLMConfig):
        return llm
    try:
        return msgspec.convert(dict(llm), LLMConfig)
    except msgspec.ValidationError as exc:
        raise Invalid(f"Invalid llm block: {exc}") from exc


class ModelFactory:
    def __init__(self, providers: Callable[[str], ProviderSpec | None]) -> None:
        self._providers = providers

    def status(self, llm: LLMConfig) -> ProviderStatus:
        provider = self._providers(llm.provider)
        if provider is None:
            return ProviderStatus(False, f"unknown LLM provider '{llm.provider}'")
        try:
            return provider.check(llm)
        except Exception as exc:  # a plugin's check must not break the caller
            return ProviderStatus(False, f"provider check failed: {exc}")

    def create(self, llm: LLMConfig | Mapping[str, Any] | None) -> BaseChatModel:
        config = as_llm_config(llm)
        status = self.status(config)
        if not status.ready:
            raise ConfigurationError(f"LLM provider '{config.provider}' is not ready: {status.reason}")
        provider = self._providers(config.provider)
        assert provider is not None
        return provider.create(config)
