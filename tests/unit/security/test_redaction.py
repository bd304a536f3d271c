from __future__ import annotations

import logging

from echo_orchestrator.security.redaction import (
    MASK,
    ScrubFilter,
    SecretRegistry,
    arg_secrets,
    environment_secrets,
    mask_args,
    mask_url,
    url_secrets,
)


def test_scrub_replaces_every_known_value_and_shows_paths_as_configured() -> None:
    secrets = SecretRegistry()
    secrets.set_source("env", ["sk-abcdef123", "short", "sk-abcdef123-longer"])
    secrets.set_path("/srv/app/storage", "storage")
    text = "key sk-abcdef123-longer and sk-abcdef123, in /srv/app/storage/agents/a.json; short stays"
    assert secrets.scrub(text) == f"key {MASK} and {MASK}, in storage/agents/a.json; short stays"
    assert secrets.scrub_data({"a": ["sk-abcdef123"], "sk-abcdef123": 1}) == {"a": [MASK], MASK: 1}
    secrets.set_source("env", [])
    assert secrets.scrub("sk-abcdef123") == "sk-abcdef123"


def test_environment_secrets_by_name() -> None:
    env = {"OPENAI_API_KEY": "sk-1", "GITHUB_TOKEN": "t", "DB_PASSWORD": "p", "HOME": "/root", "MY_SECRET_X": "s"}
    assert sorted(environment_secrets(env)) == ["p", "s", "sk-1", "t"]


def test_mask_url_keeps_shape_drops_values() -> None:
    assert mask_url("https://u:p@host:8443/mcp?api_key=x&v=1") == f"https://{MASK}:{MASK}@host:8443/mcp?api_key={MASK}&v={MASK}"
    assert mask_url("http://host/mcp") == "http://host/mcp"
    assert sorted(url_secrets("https://u:p@host/mcp?api_key=x")) == ["p", "u", "x"]


def test_mask_args() -> None:
    registry = SecretRegistry()
    registry.set_source("mcp", ["inline-secret-value"])
    args = ["server.py", "--api-key=abc", "--token", "tok123", "--port", "8", "--url=https://u:p@h/x", "pre-inline-secret-value"]
    assert mask_args(args, registry) == [
        "server.py", f"--api-key={MASK}", "--token", MASK, "--port", "8", f"--url=https://{MASK}:{MASK}@h/x", f"pre-{MASK}",
    ]  # fmt: skip
    assert sorted(arg_secrets(args)) == ["abc", "p", "tok123", "u"]


def test_log_filter_scrubs_message_and_traceback() -> None:
    registry = SecretRegistry()
    registry.set_source("env", ["hunter2-secret"])
    try:
        raise ValueError("bad key hunter2-secret")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "saw %s", ("hunter2-secret",), exc_info=__import__("sys").exc_info())
    ScrubFilter(registry).filter(record)
    out = logging.Formatter().format(record)
    assert "hunter2-secret" not in out and MASK in out and "ValueError" in out


def test_log_filter_keeps_the_args_formatters_read() -> None:
    # uvicorn's access formatter unpacks the record's five args: a filter that flattened
    # every record made each access line a "--- Logging error ---" traceback.
    from uvicorn.logging import AccessFormatter

    registry = SecretRegistry()
    registry.set_source("env", ["hunter2-secret"])
    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)
    fmt = '%s - "%s %s HTTP/%s" %d'
    plain = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, fmt, ("127.0.0.1:5", "GET", "/health", "1.1", 200), None)
    ScrubFilter(registry).filter(plain)
    assert formatter.format(plain) == '127.0.0.1:5 - "GET /health HTTP/1.1" 200 OK'
    leaky = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, fmt, ("127.0.0.1:5", "GET", "/x?key=hunter2-secret", "1.1", 200), None
    )
    ScrubFilter(registry).filter(leaky)
    out = formatter.format(leaky)
    assert "hunter2-secret" not in out and MASK in out and out.endswith("200 OK")


def test_log_filter_flattens_a_secret_that_spans_the_arguments() -> None:
    registry = SecretRegistry()
    registry.set_source("env", ["hunter2-secret"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s%s", ("hunter2", "-secret"), None)
    ScrubFilter(registry).filter(record)
    assert "hunter2-secret" not in logging.Formatter().format(record)
