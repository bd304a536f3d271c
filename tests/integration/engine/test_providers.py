"""The openai and anthropic providers, through their real client libraries, against a
small OpenAI/Anthropic-compatible server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.llm.usage import UsageRecorder
from echo_orchestrator.errors import ConfigurationError
from echo_orchestrator.models import LLMConfig, LLMUsage
from echo_orchestrator.services.plugins import build_registry
from echo_orchestrator.settings import Settings
from tests.helpers.fake_llm import fake_llm_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    with fake_llm_server() as url:
        yield url


@pytest.fixture
def models(llm_url: str) -> ModelFactory:
    # The operator allows the local server: a base_url is refused unless allowed.
    registry, factory = build_registry(Settings(plugins_dir=None, llm_allowed_base_urls=(llm_url,)))  # type: ignore[arg-type]
    registry.load()
    return factory


async def test_openai_provider_through_the_openai_client(llm_url: str, models: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    llm = LLMConfig(provider="openai", model="gpt-4o-mini", temperature=0.2, max_tokens=50, base_url=f"{llm_url}/v1")
    assert models.status(llm).ready
    seen: list[LLMUsage] = []
    model = models.create(llm)
    reply = await model.ainvoke("Summarise the quarter", config={"callbacks": [UsageRecorder(PriceTable(), seen.append)]})
    assert reply.content == "reply to: Summarise the quarter"
    (usage,) = seen
    assert (usage.provider, usage.model) == ("openai", "gpt-4o-mini-2024-07-18")
    # The server counts len(text) // 4: 21 characters asked, 31 answered.
    assert (usage.prompt_tokens, usage.completion_tokens) == (5, 7)
    assert usage.cost_usd == pytest.approx((5 * 0.15 + 7 * 0.60) / 1e6)
    request = httpx.get(f"{llm_url}/_requests").json()[-1]
    assert request["model"] == "gpt-4o-mini" and request["temperature"] == 0.2
    assert request["max_completion_tokens"] == 50
    assert request["authorization"] == "Bearer sk-test-key"


async def test_openai_provider_streams_with_usage(llm_url: str, models: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # langchain-openai caches its async HTTP client per base URL for the whole process, and
    # every test runs its own event loop: a distinct URL keeps this test off the first
    # test's (closed) loop.
    monkeypatch.setenv("OPENAI_BASE_URL", f"{llm_url.replace('127.0.0.1', 'localhost')}/v1")  # a local server needs no key
    llm = LLMConfig(provider="openai", model="llama3.2")
    assert models.status(llm).ready
    chunks = [chunk async for chunk in models.create(llm).astream("stream this please")]
    assert "".join(str(c.content) for c in chunks) == "reply to: stream this please"
    assert sum((c.usage_metadata or {}).get("output_tokens", 0) for c in chunks) == 7


async def test_openai_not_ready_without_key_or_base_url(models: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    status = models.status(LLMConfig(provider="openai", model="gpt-4o-mini"))
    assert not status.ready and "OPENAI_API_KEY" in (status.reason or "")
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        models.create(LLMConfig(provider="openai", model="gpt-4o-mini"))


@pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
async def test_anthropic_provider_through_the_anthropic_client(llm_url: str, models: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    llm = LLMConfig(provider="anthropic", model="claude-sonnet-4-5", base_url=llm_url, max_tokens=64)
    assert not models.status(llm).ready
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test")
    seen: list[LLMUsage] = []
    reply = await models.create(llm).ainvoke("Draft a memo", config={"callbacks": [UsageRecorder(PriceTable(), seen.append)]})
    assert reply.content == "reply to: Draft a memo"
    (usage,) = seen
    # 3 tokens of message plus 1 for the (empty) system prompt, as the server counts.
    assert (usage.provider, usage.model, usage.prompt_tokens) == ("anthropic", "claude-sonnet-4-5", 4)
    assert usage.cost_usd == pytest.approx((4 * 3.0 + usage.completion_tokens * 15.0) / 1e6)
    request = httpx.get(f"{llm_url}/_requests").json()[-1]
    # The Anthropic SDK sends the key as x-api-key (1.x) or as a bearer token (2.x).
    assert "ak-test" in (request["x-api-key"], (request["authorization"] or "").removeprefix("Bearer "))
    assert request["max_tokens"] == 64


async def test_unknown_provider(models: ModelFactory) -> None:
    status = models.status(LLMConfig(provider="gemini", model="x"))
    assert not status.ready and status.reason == "unknown LLM provider 'gemini'"
