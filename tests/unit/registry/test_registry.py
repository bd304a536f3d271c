"""Discovery and loading: built-ins, drop-ins, and every way a plugin can be broken."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from echo_orchestrator.registry import PluginRegistry
from echo_orchestrator.services.plugins import build_registry
from echo_orchestrator.settings import Settings
from tests.helpers.plugins import copy_example, write_plugin


def registry(plugins_dir: Path | None) -> PluginRegistry:
    return build_registry(Settings(plugins_dir=plugins_dir) if plugins_dir else Settings())[0]


def test_builtins_come_through_entry_points(tmp_path: Path) -> None:
    snapshot = registry(tmp_path).load()
    assert {"ASIS"} <= set(snapshot.graphs)
    assert {"calculator", "text_stats"} <= set(snapshot.tools)
    assert {"echo", "openai", "anthropic"} <= set(snapshot.providers)
    asis = snapshot.graphs["ASIS"]
    assert asis.origin.kind == "builtin" and asis.origin.distribution == "echo-orchestrator"
    assert asis.entry_point == "echo_orchestrator.graphs: asis = echo_orchestrator.builtins.asis:asis"
    nodes = {n.name: n.type for n in asis.info.nodes}
    assert nodes == {"__start__": "start", "planner": "llm_node", "executor": "llm_node", "summarizer": "llm_node", "__end__": "end"}
    assert snapshot.problems == ()


def test_dropped_in_example_plugin_loads(tmp_path: Path) -> None:
    copy_example(tmp_path)
    snapshot = registry(tmp_path).load()
    graph = snapshot.graphs["draft_review"]
    assert graph.origin.kind == "drop-in" and graph.origin.version == "1.0.0"
    assert {(e.source, e.target, e.conditional) for e in graph.info.edges} >= {
        ("__start__", "write", False),
        ("critique", "write", True),
        ("critique", "__end__", True),
    }
    assert snapshot.tools["keywords"].obj.call({"text": "apples and pears and apples"}) == [
        {"word": "apples", "count": 2},
        {"word": "pears", "count": 1},
    ] or [k.word for k in snapshot.tools["keywords"].obj.call({"text": "apples and pears and apples"})] == ["apples", "pears"]
    assert snapshot.problems == ()


@pytest.mark.slow  # waits on real timeouts (seconds): out of the fast loop, in every full run
def test_broken_plugins_are_reported_and_hide_nothing(tmp_path: Path) -> None:
    copy_example(tmp_path)
    write_plugin(
        tmp_path,
        "syntax-broken",
        "syntax_broken",
        "def oops(:\n",
        '[project.entry-points."echo_orchestrator.graphs"]\ng = "syntax_broken:g"\n',
    )
    write_plugin(
        tmp_path,
        "raises",
        "raises_on_import",
        "raise RuntimeError('needs FOO_API_KEY')\n",
        '[project.entry-points."echo_orchestrator.tools"]\nt = "raises_on_import:t"\n',
    )
    write_plugin(
        tmp_path, "wrong-type", "wrong_type", "g = 42\n", '[project.entry-points."echo_orchestrator.graphs"]\ng = "wrong_type:g"\n'
    )
    write_plugin(
        tmp_path,
        "dup",
        "dup_tools",
        "from echo_orchestrator.registry import tool\n@tool\ndef calculator(x: int) -> int:\n    return x\n",
        '[project.entry-points."echo_orchestrator.tools"]\ncalculator = "dup_tools:calculator"\n',
    )
    write_plugin(
        tmp_path, "missing-attr", "missing_attr", "x = 1\n", '[project.entry-points."echo_orchestrator.tools"]\nt = "missing_attr:nope"\n'
    )
    (tmp_path / "bad-toml").mkdir()
    (tmp_path / "bad-toml" / "pyproject.toml").write_text("[project\nname=")
    (tmp_path / "no-entry-points").mkdir()
    (tmp_path / "no-entry-points" / "pyproject.toml").write_text('[project]\nname = "x"\n')

    snapshot = registry(tmp_path).load()
    errors = {p.plugin: p.error for p in snapshot.problems}
    assert errors["syntax-broken"].startswith("import failed: SyntaxError")
    assert "needs FOO_API_KEY" in errors["raises"]
    assert errors["wrong-type"] == "TypeError: expected a GraphSpec, got int"
    assert errors["dup"].startswith("ValueError: duplicate name 'calculator': already provided by echo-orchestrator (builtin)")
    assert "AttributeError" in errors["missing-attr"]
    assert errors["bad-toml"].startswith("pyproject.toml:")
    assert "declares no entry points" in errors["no-entry-points"]
    assert len(snapshot.problems) == 7
    # Nothing else was hidden: built-ins and the good plugin are all there.
    assert {"ASIS", "draft_review"} <= set(snapshot.graphs)
    assert {"calculator", "keywords", "slugify", "text_stats"} <= set(snapshot.tools)
    assert snapshot.tools["calculator"].origin.kind == "builtin"


def test_reload_sees_changes_and_removals(tmp_path: Path) -> None:
    plugin = copy_example(tmp_path)
    reg = registry(tmp_path)
    first = reg.load()
    assert first.graphs["draft_review"].obj.version == "1.0.0"
    graphs_py = plugin / "echo_example_plugin" / "graphs.py"
    graphs_py.write_text(graphs_py.read_text().replace('version="1.0.0"', 'version="1.1.0"'))
    time.sleep(0.01)  # distinct mtime for the import system's cache check
    second = reg.load()
    assert second.graphs["draft_review"].obj.version == "1.1.0"
    assert second.generation == first.generation + 1
    (plugin / "pyproject.toml").unlink()
    third = reg.load()
    assert "draft_review" not in third.graphs and "keywords" not in third.tools


def test_plugin_mcp_server_config(tmp_path: Path) -> None:
    write_plugin(
        tmp_path,
        "mcp-provider",
        "mcp_provider",
        "time_server = {'command': 'uvx', 'args': ['mcp-server-time'], 'description': 'Time tools'}\n",
        '[project.entry-points."echo_orchestrator.tools"]\ntime = "mcp_provider:time_server"\n',
    )
    snapshot = registry(tmp_path).load()
    assert snapshot.mcp_servers["time"].obj.command == "uvx"
    assert snapshot.problems == ()
