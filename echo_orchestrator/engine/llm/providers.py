"""The built-in providers, registered through the `echo_orchestrator.llm_providers` entry points.

Keys come from the environment and are never stored in `storage/`. The OpenAI and
Anthropic integrations are optional extras (`pip install "echo-orchestrator[openai]"`),
so a missing integration is reported as a reason, not an import error.
"""

from __future__ import annotations

import importlib.util
import os

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from echo_orchestrator.engine.llm.echo import EchoChatModel
from echo_orchestrator.models import LLMConfig
from echo_orchestrator.registry.spec import ProviderSpec, ProviderStatus


def _echo_model(llm: LLMConfig) -> BaseChatModel:
    return EchoChatModel(
        model_name=llm.model or "echo",
        latency_ms=llm.latency_ms or 0,
        responses=list(llm.responses or []),
        stream_delay_ms=llm.stream_delay_ms,
        disable_streaming=llm.stream_delay_ms is None,
    )


echo = ProviderSpec(
    name="echo",
    create=_echo_model,
    display_name="Echo (offline)",
    description="Deterministic offline model: no network, no key; says that no model was called.",
)


def _openai_base_url(llm: LLMConfig) -> str | None:
    return llm.base_url or os.environ.get("OPENAI_BASE_URL") or None


def _openai_check(llm: LLMConfig) -> ProviderStatus:
    if importlib.util.find_spec("langchain_openai") is None:
        return ProviderStatus(False, 'the OpenAI integration is not installed: pip install "echo-orchestrator[openai]"')
    if not os.environ.get("OPENAI_API_KEY") and _openai_base_url(llm) is None:
        return ProviderStatus(False, "OPENAI_API_KEY is not set (or give a base_url for a local OpenAI-compatible server)")
    return ProviderStatus(True)


def _openai_model(llm: LLMConfig) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    base_url = _openai_base_url(llm)
    # Local OpenAI-compatible servers (Ollama, vLLM, LM Studio) accept any key.
    key = os.environ.get("OPENAI_API_KEY") or ("not-needed" if base_url else None)
    return ChatOpenAI(
        model=llm.model,
        temperature=llm.temperature,
        max_completion_tokens=llm.max_tokens,
        base_url=base_url,
        api_key=key,  # type: ignore[arg-type]
        stream_usage=True,
        **llm.params,
    )


openai = ProviderSpec(
    name="openai",
    create=_openai_model,
    check=_openai_check,
    display_name="OpenAI-compatible",
    description="OpenAI, or any OpenAI-compatible server by base_url (Ollama, vLLM, LM Studio).",
)


def _anthropic_check(llm: LLMConfig) -> ProviderStatus:
    if importlib.util.find_spec("langchain_anthropic") is None:
        return ProviderStatus(False, 'the Anthropic integration is not installed: pip install "echo-orchestrator[anthropic]"')
    if not os.environ.get("ANTHROPIC_API_KEY"):
        return ProviderStatus(False, "ANTHROPIC_API_KEY is not set")
    return ProviderStatus(True)


def _anthropic_model(llm: LLMConfig) -> BaseChatModel:
    from langchain_anthropic import ChatAnthropic

    options = dict(llm.params)
    base_url = llm.base_url or os.environ.get("ANTHROPIC_BASE_URL")
    if base_url:
        options["base_url"] = base_url
    key = os.environ.get("ANTHROPIC_API_KEY")
    if key:
        options["api_key"] = SecretStr(key)
    return ChatAnthropic(  # type: ignore[call-arg]
        model=llm.model,
        temperature=llm.temperature,
        max_tokens=llm.max_tokens or 4096,
        **options,
    )


anthropic = ProviderSpec(
    name="anthropic",
    create=_anthropic_model,
    check=_anthropic_check,
    display_name="Anthropic",
    description="Claude models through the Anthropic API.",
)
