"""The openai and anthropic providers, through their real client libraries, against a
small OpenAI/Anthropic-compatible server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.llm.tokens import TokenStreamer
from echo_orchestrator.engine.llm.usage import UsageRecorder
from echo_orchestrator.errors import ConfigurationError
from echo_orchestrator.models import LLMConfig, LLMUsage
from echo_orchestrator.services.plugins import build_registry
from echo_orchestrator.settings import Settings
from tests.helpers.fake_llm import fake_llm_server

pytestmark = pytest.mark.anyio


def _into(seen: list[LLMUsage]) -> Callable[[LLMUsage, str], None]:
    return lambda usage, _call_id: seen.append(usage)


class _Pieces:
    """What a run's TokenStreamer would publish: (call id, index, text) of each piece."""

    def __init__(self) -> None:
        self.got: list[tuple[str, int, str]] = []

    def __call__(self, call_id: str, node: str | None, index: int, delta: str) -> None:
        self.got.append((call_id, index, delta))

    def text(self) -> str:
        return "".join(delta for _, _, delta in self.got)


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
    reply = await model.ainvoke("Summarise the quarter", config={"callbacks": [UsageRecorder(PriceTable(), _into(seen))]})
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
    reply = await models.create(llm).ainvoke("Draft a memo", config={"callbacks": [UsageRecorder(PriceTable(), _into(seen))]})
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


async def test_openai_streams_its_pieces_to_the_token_streamer_and_counts_usage_the_same(
    llm_url: str, models: ModelFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a TokenStreamer among the callbacks, `ainvoke` streams (as a run's models do):
    every piece reaches it in order, the reply is whole, and usage is what the unstreamed
    call reports (stream_usage)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    # A timeout of its own: langchain-openai caches a client per (base URL, timeout) for the
    # process, and each test has its own event loop (see the test above).
    llm = LLMConfig(provider="openai", model="drip-5", base_url=f"{llm_url}/v1", params={"timeout": 21})
    seen: list[LLMUsage] = []
    pieces = _Pieces()
    callbacks = [UsageRecorder(PriceTable(), _into(seen)), TokenStreamer(pieces)]
    reply = await models.create(llm).ainvoke("Summarise the quarter", config={"callbacks": callbacks})
    assert reply.content == "reply to: Summarise the quarter"
    assert [delta for _, _, delta in pieces.got] == ["reply", " to:", " Summarise", " the", " quarter"]
    assert [index for _, index, _ in pieces.got] == [0, 1, 2, 3, 4]
    assert len({call_id for call_id, _, _ in pieces.got}) == 1
    (usage,) = seen
    assert (usage.prompt_tokens, usage.completion_tokens) == (5, 7)
    request = httpx.get(f"{llm_url}/_requests").json()[-1]
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}


async def test_openai_streamed_tool_calls_still_call_tools(llm_url: str, models: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A streamed reply that asks for tools gives the same tool calls, and no text pieces."""
    from langchain_core.tools import tool

    @tool
    def write_file(path: str, content: str) -> str:
        """Write a file."""
        return f"{path}:{len(content)}"

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    llm = LLMConfig(provider="openai", model="gpt-4o-mini", base_url=f"{llm_url}/v1", params={"timeout": 22})
    pieces = _Pieces()
    bound = models.create(llm).bind_tools([write_file])
    reply = await bound.ainvoke('{"write_files": {"a.txt": "hello"}}', config={"callbacks": [TokenStreamer(pieces)]})
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("write_file", {"path": "a.txt", "content": "hello"})]
    assert pieces.got == []
    assert httpx.get(f"{llm_url}/_requests").json()[-1]["stream"] is True


@pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
async def test_anthropic_streams_its_pieces_with_usage(llm_url: str, models: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test")
    llm = LLMConfig(provider="anthropic", model="drip-5", base_url=llm_url, max_tokens=64)
    seen: list[LLMUsage] = []
    pieces = _Pieces()
    callbacks = [UsageRecorder(PriceTable(), _into(seen)), TokenStreamer(pieces)]
    reply = await models.create(llm).ainvoke("Draft a memo", config={"callbacks": callbacks})
    assert reply.text == "reply to: Draft a memo"
    assert pieces.text() == "reply to: Draft a memo" and [i for _, i, _ in pieces.got] == [0, 1, 2, 3, 4]
    (usage,) = seen
    assert (usage.prompt_tokens, usage.completion_tokens) == (4, 5)
    assert httpx.get(f"{llm_url}/_requests").json()[-1]["stream"] is True
