"""The web console as a person meets it: Playwright driving Debian's chromium (no browser
download) against the real server with keys, on loopback. Sign in (a wrong key refused),
the catalogue, a run started from a workflow's form and watched to completion, a reload
mid-run that replays the same timeline, a cancel, a paused run answered from the page; no
console errors, an axe-core check of every page, and screenshots at 1280 and 390 px (saved
under $ECHO_TEST_ARTIFACTS, default tests/artifacts/console)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.server import REPO, RunningServer, running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="the test extra installs playwright")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (Debian: apt-get install chromium)")

KEY = "eo_console_key_0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
ARTIFACTS = Path(os.environ.get("ECHO_TEST_ARTIFACTS", REPO / "tests" / "artifacts")) / "console"
AXE = (REPO / "tests" / "fixtures" / "axe-core" / "axe.min.js").read_text()


def _add_slow_workflow(storage: Path) -> None:
    """Two agents whose offline model waits 2 s, then streams its reply a word every 80 ms."""
    base = json.loads((storage / "agents" / "researcher.json").read_text())
    llm = {**base["llm"], "provider": "echo", "latency_ms": 2000, "stream_delay_ms": 80}
    agents = {
        name: base | {"agent_id": name, "name": name.title(), "llm": llm, "input_schema": [], "output_schema": [f"{name}_notes"]}
        for name in ("drafter", "reviewer")
    }
    workflow = json.loads((storage / "workflows" / "final" / "wf_market_research.v1.0.json").read_text())
    workflow |= {
        "workflow_id": "wf_slow_lane",
        "slug": "slow-lane",
        "name": "Slow Lane",
        "execution_model": "sequential",
        "agents": list(agents),
        "agent_definitions": agents,
        "connections": [],
    }
    (storage / "workflows" / "final" / "wf_slow_lane.v1.0.json").write_text(json.dumps(workflow))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("console")
    storage = copy_storage(root / "storage")
    _add_slow_workflow(storage)
    with running_server(storage, "--plugins-dir", str(root / "plugins"), env={"ECHO_API_KEYS": f"{KEY} id=console"}) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield launched
        launched.close()


class Console:
    """One browser tab on the console, with every console error and page error it logged."""

    def __init__(self, browser: Any, server: RunningServer, width: int = 1280) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.url = f"{server.url}/ui"
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def sign_in(self, key: str = KEY) -> None:
        self.page.goto(self.url)
        self.page.get_by_label("API key or token").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        if key == KEY:
            self.page.get_by_role("heading", name="Workflows", exact=True).wait_for()
            # The page's first request, before a key was entered, was refused, and the browser
            # logs that refusal itself; any error from here on is the console's.
            self.errors.clear()

    def status(self) -> str:
        return str(self.page.locator("h1 .badge").inner_text())

    def wait_status(self, *wanted: str) -> None:
        self.page.wait_for_function(
            "wanted => wanted.includes(document.querySelector('h1 .badge')?.textContent)", arg=list(wanted), timeout=40_000
        )

    def seqs(self) -> list[int]:
        return [int(s) for s in self.page.locator("#timeline li").evaluate_all("items => items.map(i => i.dataset.seq)")]

    def accessibility_problems(self) -> list[str]:
        # Evaluated over the DevTools protocol, which the page's CSP does not restrict.
        self.page.evaluate(AXE)
        found = self.page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
        return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in found if v["impact"] in ("serious", "critical")]

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _stored_seqs(server: RunningServer, execution_id: str) -> list[int]:
    events = httpx.get(f"{server.url}/executions/{execution_id}/events?limit=1000", headers=AUTH).json()["events"]
    return [e["seq"] for e in events]


def _start(server: RunningServer, slug: str, inputs: dict[str, Any]) -> str:
    r = httpx.post(f"{server.url}/workflows/{slug}/execute", json={"inputs": inputs}, headers=AUTH)
    assert r.status_code == 202, r.text
    return str(r.json()["execution_id"])


@needs_chromium
def test_a_wrong_key_is_refused_and_the_right_one_opens_the_catalogue(browser: Any, server: RunningServer) -> None:
    tab = Console(browser, server)
    tab.sign_in("eo_not_a_key_at_all_0000000000")
    tab.page.get_by_role("alert").filter(has_text="API key").wait_for()
    assert tab.page.get_by_role("heading", name="Sign in", exact=True).is_visible()
    tab.page.get_by_label("API key or token").fill(KEY)
    tab.page.get_by_role("button", name="Sign in").click()
    tab.page.get_by_role("heading", name="Workflows", exact=True).wait_for()
    tab.errors.clear()  # the browser logs the refused requests itself
    assert tab.page.get_by_role("link", name="Market Research").count() == 1
    tab.page.get_by_label("Search").fill("slow")
    tab.page.wait_for_function("() => document.querySelectorAll('tbody tr').length === 1")
    assert tab.page.evaluate("sessionStorage.length") == 1 and tab.page.evaluate("localStorage.length") == 0
    tab.shot("catalogue-1280")
    assert tab.accessibility_problems() == []
    assert tab.errors == []
    tab.context.close()


@needs_chromium
def test_a_run_started_from_the_form_streams_to_completion(browser: Any, server: RunningServer) -> None:
    # A draft beside the final version: the two are compared on the page.
    clone = {"workflow_id": "wf_market_research", "from_version": "1.0", "overwrite": True}
    assert httpx.post(f"{server.url}/workflows/clone", json=clone, headers=AUTH).status_code in (200, 201)
    tab = Console(browser, server)
    tab.sign_in()
    tab.page.get_by_role("link", name="Market Research").click()
    tab.page.get_by_role("heading", name="Graph", exact=True).wait_for()
    assert tab.page.locator(".graph svg g[data-node]").count() >= 3
    tab.page.get_by_label("From", exact=True).select_option("draft")
    tab.page.get_by_label("To", exact=True).select_option("1.0")
    tab.page.get_by_role("button", name="Compare").click()
    tab.page.locator(".diff pre.add").first.wait_for()  # the draft's status and base version differ
    tab.page.get_by_label("topic *").fill("tea shops in Lisbon")
    tab.shot("workflow-1280")
    assert tab.accessibility_problems() == []
    tab.page.get_by_role("button", name="Run").click()
    tab.page.wait_for_url("**/ui#/executions/*")
    execution_id = tab.page.url.rsplit("/", 1)[1]
    tab.wait_status("completed")
    tab.page.wait_for_function(
        "() => [...document.querySelectorAll('#timeline li strong')].some(s => s.textContent === 'execution_completed')"
    )
    assert tab.seqs() == _stored_seqs(server, execution_id)
    assert tab.page.locator("table tbody tr").count() >= 2  # steps, LLM calls
    tab.page.get_by_text("researcher (completed)").wait_for()  # a step's nodes
    tab.shot("execution-1280")
    assert tab.accessibility_problems() == []
    assert tab.errors == []
    tab.context.close()


@needs_chromium
def test_a_reload_mid_run_replays_the_same_timeline_and_tokens_stream(browser: Any, server: RunningServer) -> None:
    tab = Console(browser, server)
    tab.sign_in()
    execution_id = _start(server, "slow-lane", {"topic": "harbour bakery"})
    tab.page.goto(f"{tab.url}#/executions/{execution_id}")
    tab.page.wait_for_function("() => document.getElementById('streaming')?.textContent.includes('offline')")  # live tokens
    before = tab.seqs()
    tab.page.reload()
    tab.page.locator("#timeline li").first.wait_for()
    tab.page.wait_for_function("n => document.querySelectorAll('#timeline li').length >= n", arg=len(before))
    assert tab.seqs()[: len(before)] == before
    tab.wait_status("completed")
    tab.page.wait_for_function(
        "() => [...document.querySelectorAll('#timeline li strong')].some(s => s.textContent === 'execution_completed')"
    )
    seqs = tab.seqs()
    assert seqs == sorted(set(seqs)) == _stored_seqs(server, execution_id)  # no gap, no double
    assert tab.errors == []
    tab.context.close()


@needs_chromium
def test_a_running_run_is_cancelled_from_its_page(browser: Any, server: RunningServer) -> None:
    tab = Console(browser, server)
    tab.sign_in()
    execution_id = _start(server, "slow-lane", {"topic": "cancel me"})
    tab.page.goto(f"{tab.url}#/executions/{execution_id}")
    tab.page.get_by_role("button", name="Cancel now").click()
    tab.wait_status("cancelled", "cancelling")
    tab.wait_status("cancelled")
    assert httpx.get(f"{server.url}/executions/{execution_id}", headers=AUTH).json()["status"] == "cancelled"
    tab.page.get_by_role("button", name="Resume").wait_for()
    assert tab.errors == []
    tab.context.close()


@needs_chromium
def test_a_paused_run_is_answered_from_the_page(browser: Any, server: RunningServer) -> None:
    tab = Console(browser, server)
    tab.sign_in()
    execution_id = _start(server, "article-desk", {"brief": "a tea shop opens"})
    tab.page.goto(f"{tab.url}#/executions/{execution_id}")
    tab.page.get_by_role("region", name="Waiting for your answer").wait_for(timeout=40_000)
    tab.shot("prompt-1280")
    assert tab.accessibility_problems() == []
    tab.page.get_by_role("button", name="approve").click()
    tab.wait_status("completed")
    assert httpx.get(f"{server.url}/executions/{execution_id}", headers=AUTH).json()["status"] == "completed"
    assert tab.errors == []
    tab.context.close()


@needs_chromium
def test_the_lists_and_a_phone_width(browser: Any, server: RunningServer) -> None:
    for width in (1280, 390):
        tab = Console(browser, server, width=width)
        tab.sign_in()
        tab.page.get_by_role("heading", name="Workflows", exact=True).wait_for()
        tab.page.goto(f"{tab.url}#/executions")
        tab.page.locator("tbody tr").first.wait_for()
        assert tab.accessibility_problems() == []
        tab.shot(f"executions-{width}")
        tab.page.goto(f"{tab.url}#/mcp")
        tab.page.get_by_role("heading", name="MCP servers and plugins", exact=True).wait_for()
        assert tab.accessibility_problems() == []
        tab.shot(f"mcp-{width}")
        tab.page.goto(f"{tab.url}#/")
        tab.page.get_by_role("heading", name="Workflows", exact=True).wait_for()
        if width == 390:
            tab.shot("catalogue-390")
            # Nothing wider than the screen but the tables, which scroll in their own box.
            assert tab.page.evaluate("document.documentElement.scrollWidth") <= 390
        assert tab.errors == []
        tab.context.close()


@needs_chromium
def test_schedules_are_listed_and_paused_from_the_page(browser: Any, server: RunningServer) -> None:
    body = {
        "schedule_id": "console-daily",
        "workflow": "market-research",
        "inputs": {"topic": "x"},
        "cron": "0 6 * * *",
        "timezone": "Asia/Tokyo",
    }
    assert httpx.post(f"{server.url}/schedules", json=body, headers=AUTH).status_code == 201
    tab = Console(browser, server)
    tab.sign_in()
    tab.page.get_by_role("link", name="Schedules").click()
    row = tab.page.locator('tr[data-schedule-row="console-daily"]')
    row.wait_for()
    assert "0 6 * * * (Asia/Tokyo)" in row.inner_text() and "schedules/console-daily.json" in row.inner_text()
    assert tab.accessibility_problems() == []
    tab.shot("schedules")
    row.get_by_role("button", name="Pause").click()
    row.get_by_role("button", name="Resume").wait_for()
    assert httpx.get(f"{server.url}/schedules/console-daily", headers=AUTH).json()["schedule"]["enabled"] is False
    assert "paused" in row.inner_text()
    assert tab.errors == []
    tab.context.close()


def test_the_page_has_a_strict_policy_and_needs_no_key_but_its_data_does(server: RunningServer) -> None:
    page = httpx.get(f"{server.url}/ui")
    assert page.status_code == 200 and "console.js" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    asset = httpx.get(f"{server.url}/ui/assets/console.js")
    assert asset.status_code == 200 and asset.headers["content-security-policy"] == policy
    assert httpx.get(f"{server.url}/workflows").status_code == 401  # the data stays behind the keys
    assert httpx.get(f"{server.url}/ui", headers={"Host": "evil.example"}).status_code == 400  # the Host rule holds


@needs_chromium
def test_the_keyboard_reaches_a_workflow_and_its_run_button(browser: Any, server: RunningServer) -> None:
    tab = Console(browser, server)
    tab.sign_in()
    for _ in range(40):  # Tab through the page until the workflow's link has the focus
        tab.page.keyboard.press("Tab")
        if tab.page.evaluate("document.activeElement?.textContent") == "Market Research":
            break
    tab.page.keyboard.press("Enter")
    tab.page.get_by_role("heading", name="Graph", exact=True).wait_for()
    tab.page.get_by_label("topic *").focus()
    tab.page.keyboard.type("tea by keyboard")
    tab.page.keyboard.press("Enter")  # submits the form
    tab.page.wait_for_url("**/ui#/executions/*")
    tab.wait_status("completed")
    assert tab.errors == []
    tab.context.close()


@needs_chromium
def test_a_page_left_while_it_loads_does_not_draw_over_the_next(browser: Any, server: RunningServer) -> None:
    # The catalogue's second request (/graphs) and a workflow page's first are held back by
    # 1.5 s in the browser: the person moves on before they answer, and what they moved to stays.
    tab = Console(browser, server)
    tab.context.add_init_script(
        """(() => {
          const real = window.fetch;
          window.fetch = async (url, options) => {
            if (/\\/graphs$|\\/workflows\\/market-research$/.test(String(url))) await new Promise((r) => setTimeout(r, 1500));
            return real(url, options);
          };
        })();"""
    )
    tab.sign_in()
    tab.page.goto(f"{tab.url}#/executions")
    tab.page.locator("tbody tr").first.wait_for()
    tab.page.goto(f"{tab.url}#/workflows/market-research")
    tab.page.goto(f"{tab.url}#/mcp")
    tab.page.get_by_role("heading", name="MCP servers and plugins", exact=True).wait_for()
    tab.page.wait_for_timeout(2500)  # both held requests have answered by now
    assert tab.page.locator("h1").all_inner_texts() == ["MCP servers and plugins"]
    assert tab.errors == []
    tab.context.close()
