"""The MCP hub against real MCP servers, over stdio and streamable HTTP."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from echo_orchestrator.builtins.tools import calculator
from echo_orchestrator.errors import Invalid, McpToolFailed, McpUnavailable, NotFound, TimeoutExceeded
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import McpServerConfig, McpSettings
from tests.helpers.mcp_servers import http_test_server, published_time_server, stdio_test_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    with http_test_server() as url:
        yield url


class Settings:
    """A mutable settings source, as the store's index is."""

    def __init__(self, servers: dict[str, McpServerConfig]) -> None:
        self.value = McpSettings(mcp_servers=servers)

    def __call__(self) -> McpSettings:
        return self.value


@pytest.fixture
def settings(http_url: str) -> Settings:
    return Settings(
        {
            "test": stdio_test_server(capabilities=["math"], timeout=10, cost_per_call_usd=0.001),
            "web": McpServerConfig(url=http_url, timeout=10),
            # Never answers, and exits when its stdin closes (as a well-behaved server does), so
            # the SDK's 2 s shutdown grace is not spent on it.
            "hangs": McpServerConfig(command=sys.executable, args=["-c", "import sys; sys.stdin.read()"], timeout=1),
            "missing": McpServerConfig(command="/nonexistent/mcp-server", timeout=5),
            "off": stdio_test_server(enabled=False),
        }
    )


@pytest.fixture
async def hub(settings: Settings, tmp_path: Path) -> AsyncIterator[McpHub]:
    hub = McpHub(settings, lambda: {"calculator": calculator}, dict, log_dir=tmp_path / "mcp", retry_interval=0.5)
    async with hub.running():
        yield hub


@pytest.mark.slow  # waits on real timeouts (seconds): out of the fast loop, in every full run
async def test_servers_report_status_and_errors(hub: McpHub) -> None:
    started = time.perf_counter()
    statuses = {s.name: s for s in await hub.check()}
    # Bounded by the slowest server's own timeout (1 s here), not by their sum or by cleanup.
    assert time.perf_counter() - started < 4
    assert statuses["plugins"].status == "available" and statuses["plugins"].tools_count == 1
    test = statuses["test"]
    assert (test.status, test.version, test.tools_count, test.transport) == ("available", "1.2.3", 6, "stdio")
    assert {"math", "tools"} <= set(test.capabilities) and test.response_time_ms is not None
    assert statuses["web"].status == "available" and statuses["web"].transport == "http"
    assert statuses["hangs"].status == "unavailable" and statuses["hangs"].error == "no answer within 1s"
    assert statuses["missing"].status == "unavailable" and statuses["missing"].error == (
        "cannot start '/nonexistent/mcp-server': no such file (install it, or give its full path in mcp_settings.json)"
    )
    assert statuses["off"].status == "disabled"


@pytest.mark.slow  # waits on real timeouts (seconds): out of the fast loop, in every full run
async def test_tools_are_listed_by_id_and_filtered(hub: McpHub) -> None:
    await hub.check()
    ids = {t.tool_id for t in await hub.tools()}
    assert {"plugins-calculator", "test-add", "test-shout", "web-add"} <= ids
    assert {t.tool_id for t in await hub.tools(server="web")} == {
        "web-add",
        "web-shout",
        "web-fail",
        "web-slow",
        "web-crash",
        "web-environment",
    }
    assert {t.server for t in await hub.tools(capability="math")} == {"test"}
    add = next(t for t in await hub.tools(server="test") if t.name == "add")
    assert add.input_schema["required"] == ["a", "b"] and add.output_schema is not None


async def test_calls_over_stdio_and_http(hub: McpHub) -> None:
    result = await hub.call("test-add", {"a": 2, "b": 40})
    assert result.output == {"total": 42} and result.cost_usd == 0.001
    assert (await hub.call("web-shout", {"text": "hey", "times": 2})).output == {"result": "HEY HEY"}
    assert (await hub.call("plugins-calculator", {"expression": "(2 + 3) * 4"})).output == {
        "expression": "(2 + 3) * 4",
        "result": 20.0,
    }


async def test_call_errors(hub: McpHub) -> None:
    with pytest.raises(McpToolFailed) as failed:
        await hub.call("test-fail", {"message": "quota exceeded"})
    assert failed.value.code == "ERR_MCP_002"
    with pytest.raises(Invalid) as invalid:
        await hub.call("test-add", {"a": "two"})
    assert {e["field"] for e in invalid.value.details["errors"]} == {"a", "b"}
    with pytest.raises(NotFound):
        await hub.call("test-nope", {})
    with pytest.raises(NotFound):
        await hub.call("nobody-add", {})
    with pytest.raises(McpUnavailable) as unavailable:
        await hub.call("missing-anything", {})
    assert unavailable.value.code == "ERR_MCP_001"
    with pytest.raises(McpUnavailable, match="disabled"):
        await hub.call("off-add", {"a": 1, "b": 1})
    with pytest.raises(McpToolFailed, match="ZeroDivisionError"):
        await hub.call("plugins-calculator", {"expression": "1/0"})


async def test_timeout_leaves_the_server_usable(hub: McpHub) -> None:
    await hub.call("test-add", {"a": 0, "b": 0})  # connected first: the bound below is the call's, not a cold start's
    started = time.perf_counter()
    with pytest.raises(TimeoutExceeded) as timeout:
        await hub.call("test-slow", {"seconds": 1.2}, timeout=0.5)
    assert timeout.value.code == "ERR_EXEC_002" and time.perf_counter() - started < 2
    assert (await hub.call("test-add", {"a": 1, "b": 1})).output == {"total": 2}


@pytest.mark.slow  # waits on real timeouts (seconds): out of the fast loop, in every full run
async def test_a_server_that_dies_is_restarted_on_next_use(hub: McpHub) -> None:
    await hub.call("test-add", {"a": 1, "b": 1})
    with pytest.raises(McpUnavailable):
        await hub.call("test-crash", {})
    status = {s.name: s for s in await hub.servers()}["test"]
    assert status.status in ("unavailable", "connecting", "available")  # listing may already revive it
    assert (await hub.call("test-add", {"a": 20, "b": 22})).output == {"total": 42}
    # retry_on_failure: a connection lost during the call is re-established once.
    with pytest.raises(McpUnavailable):
        await hub.call("test-crash", {}, retry_unavailable=True)  # it dies on every attempt
    assert (await hub.call("test-add", {"a": 1, "b": 2})).output == {"total": 3}


@pytest.mark.slow  # waits on real timeouts (seconds): out of the fast loop, in every full run
async def test_max_retries_makes_a_call_again_on_a_fresh_connection(tmp_path: Path) -> None:
    """A call whose server dies under it is made again, up to the server's `max_retries`;
    each attempt starts the server anew (its stderr log shows every start)."""
    settings = Settings({"flaky": stdio_test_server(timeout=10, max_retries=2)})
    hub = McpHub(settings, dict, dict, log_dir=tmp_path / "mcp", retry_interval=0.5)
    async with hub.running():
        with pytest.raises(McpUnavailable):
            await hub.call("flaky-crash", {})
        starts = (tmp_path / "mcp" / "flaky.stderr.log").read_text().count("--- ")
        assert starts == 3  # the call and two retries, each on a new process
        assert (await hub.call("flaky-add", {"a": 1, "b": 2})).output == {"total": 3}


@pytest.mark.slow  # waits on real timeouts (seconds): out of the fast loop, in every full run
async def test_a_hanging_server_blocks_nobody(hub: McpHub) -> None:
    await hub.call("test-add", {"a": 0, "b": 0})  # `test` itself connected (its cold start is ~1 s)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _expect_unavailable(hub, "hangs-x"))
        started = time.perf_counter()
        assert (await hub.call("test-add", {"a": 1, "b": 1})).output == {"total": 2}
        assert time.perf_counter() - started < 0.5


async def _expect_unavailable(hub: McpHub, tool_id: str) -> None:
    with pytest.raises(McpUnavailable):
        await hub.call(tool_id, {})


async def test_settings_changes_are_applied(hub: McpHub, settings: Settings) -> None:
    await hub.call("test-add", {"a": 1, "b": 1})
    settings.value = McpSettings(mcp_servers={"renamed": stdio_test_server()})
    names = {s.name for s in await hub.servers()}
    assert names == {"plugins", "renamed"}
    assert (await hub.call("renamed-add", {"a": 2, "b": 2})).output == {"total": 4}
    with pytest.raises(NotFound):
        await hub.call("test-add", {"a": 1, "b": 1})


@pytest.mark.slow
async def test_published_mcp_server_time(tmp_path: Path) -> None:
    try:
        executable = published_time_server()
    except RuntimeError as exc:  # pragma: no cover - only without a package registry
        pytest.skip(str(exc))
    settings = Settings({"time": McpServerConfig(command=str(executable), args=["--local-timezone", "UTC"], timeout=30)})
    hub = McpHub(settings, dict, dict, log_dir=tmp_path)
    async with hub.running():
        tools = {t.name for t in await hub.tools(server="time")} or {t.name for t in await _after_check(hub)}
        assert {"get_current_time", "convert_time"} <= tools
        now = await hub.call("time-get_current_time", {"timezone": "Europe/Paris"})
        assert "Europe/Paris" in str(now.output)
        converted = await hub.call("time-convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"})
        assert "21:00" in str(converted.output)
        with pytest.raises(McpToolFailed):
            await hub.call("time-get_current_time", {"timezone": "Mars/Olympus_Mons"})


async def _after_check(hub: McpHub) -> list[object]:
    await hub.check()
    return await hub.tools(server="time")  # type: ignore[return-value]
