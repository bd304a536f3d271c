"""From an `llm` block to a chat model, through whichever provider the registry holds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from langchain_core.language_models import BaseChatModel

from echo_orchestrator.errors import ConfigurationError, EgressRefused, Invalid
from echo_orchestrator.models import LLMConfig
from echo_orchestrator.registry.spec import ProviderSpec, ProviderStatus
from echo_orchestrator.security.egress import EgressPolicy


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
    def __init__(self, providers: Callable[[str], ProviderSpec | None], egress: EgressPolicy | None = None) -> None:
        self._providers = providers
        self._egress = egress or EgressPolicy()

    def egress_error(self, llm: LLMConfig) -> str | None:
        """Why the block may not be used here (it points outside what the operator allows), or None."""
        try:
            self.check_egress(llm)
        except Invalid as exc:
            return exc.message
        return None

    def check_egress(self, llm: LLMConfig, field: str = "llm") -> None:
        """Invalid (422) unless the block sends requests only where the operator allows.

        Called where a block is saved or a run is asked for, and again by `create`, so a
        block that reached storage some other way (a git pull, an editor) is refused too."""
        provider = self._providers(llm.provider)
        extra = provider.allowed_base_urls if provider is not None else ()
        try:
            self._egress.check(llm.base_url, llm.params, extra)
        except EgressRefused as exc:
            where = f"{field}{exc.field.removeprefix('llm')}"
            raise Invalid.at(where, str(exc), str(exc)) from None

    def status(self, llm: LLMConfig) -> ProviderStatus:
        provider = self._providers(llm.provider)
        if provider is None:
            return ProviderStatus(False, f"unknown LLM provider '{llm.provider}'", kind="unknown")
        try:
            return provider.check(llm)
        except Exception as exc:  # a plugin's check must not break the caller
            return ProviderStatus(False, f"provider check failed: {exc}", kind="error")

    def create(self, llm: LLMConfig | Mapping[str, Any] | None) -> BaseChatModel:
        config = as_llm_config(llm)
        self.check_egress(config)
        status = self.status(config)
        if not status.ready:
            raise ConfigurationError(f"LLM provider '{config.provider}' is not ready: {status.reason}")
        provider = self._providers(config.provider)
        assert provider is not None
        return provider.create(config)
