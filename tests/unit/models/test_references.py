"""`${VAR}` references in settings: resolved from the environment when used, refused when malformed."""

from __future__ import annotations

import pytest

from echo_orchestrator.errors import UnsetVariable
from echo_orchestrator.models import McpServerConfig
from echo_orchestrator.models.references import expand, reference_problem, references_in

ENV = {"TOKEN": "t-123", "EMPTY": "", "HOST": "api.example.com"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${TOKEN}", "t-123"),
        ("Bearer ${TOKEN}", "Bearer t-123"),
        ("${env:TOKEN}", "t-123"),  # VS Code's form
        ("https://${HOST}/mcp?key=${TOKEN}", "https://api.example.com/mcp?key=t-123"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),  # as the shell: unset or empty takes the default
        ("${EMPTY}", ""),  # set but empty is its value
        ("${MISSING:-}", ""),
        ("no references at all", "no references at all"),
        ("price: $5", "price: $5"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, ENV, "env.X") == expected


def test_an_unset_variable_without_default_names_itself_and_the_setting() -> None:
    with pytest.raises(UnsetVariable) as raised:
        expand("Bearer ${GITHUB_TOKEN}", ENV, "mcpServers.github.headers.Authorization")
    assert raised.value.message.startswith(
        "environment variable GITHUB_TOKEN is not set (mcpServers.github.headers.Authorization refers to it)"
    )
    assert raised.value.details == {"variable": "GITHUB_TOKEN", "setting": "mcpServers.github.headers.Authorization"}


@pytest.mark.parametrize("text", ["${", "${}", "${1ABC}", "${TOKEN", "${A-B}", "x ${ok} ${bad name}"])
def test_malformed_references_are_problems(text: str) -> None:
    assert reference_problem(text) is not None


def test_references_in_order() -> None:
    assert references_in("${A}/${env:B:-x}/${A}") == ["A", "B", "A"]
    assert reference_problem("${A}/${env:B:-x}") is None


def test_a_server_config_is_refused_with_a_malformed_reference_and_resolved_whole() -> None:
    with pytest.raises(ValueError, match=r"headers.Authorization: '\$\{TOKEN' is not a reference"):
        McpServerConfig(url="http://h/mcp", headers={"Authorization": "${TOKEN"})
    config = McpServerConfig(
        command="server",
        args=["--key=${TOKEN}", "--region=${REGION:-eu}"],
        env={"API": "${TOKEN}"},
        cwd="${HOME_DIR:-/srv}",
    )
    launch = config.resolved(ENV, "s")
    assert (launch.args, launch.env, launch.cwd) == (["--key=t-123", "--region=eu"], {"API": "t-123"}, "/srv")
    assert config.env == {"API": "${TOKEN}"}  # the settings keep the reference
    with pytest.raises(UnsetVariable, match=r"mcpServers\.s\.env\.API refers"):
        config.resolved({}, "s")
