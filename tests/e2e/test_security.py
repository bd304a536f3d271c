"""Trust, against the real server on loopback with real clients: who may call (API keys, a
read-only key, HS256 and RS256/JWKS tokens) on HTTP, SSE, WebSocket and Socket.IO; what
browsers cannot do; secrets that never come back; the document's rate limits; keys that
never leave for an address a caller chose."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
import pytest
import socketio
import websockets
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.exceptions import InvalidStatus

from echo_orchestrator.security.keys import stored_line
from tests.helpers.fake_llm import fake_llm_server
from tests.helpers.server import REPO, RunningServer, free_port, running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e

FULL_KEY = "eo_full-access-key-0123456789abcdef"
READ_KEY = "eo_read-only-key-0123456789abcdef"
JWT_SECRET = "hs256-test-secret-that-is-long-enough-0123456789"
AUDIENCE = "echo-api"
ISSUER = "https://issuer.test"
# Secrets the MCP settings and the environment hold: none may ever come back.
MCP_SECRETS = {
    "ARG_SECRET_ONE": "arg-secret-11111",
    "ARG_SECRET_TWO": "arg-secret-22222",
    "ENV_SECRET": "env-secret-33333",
    "URL_PASSWORD": "url-pass-44444",
    "URL_QUERY": "url-query-55555",
    "HEADER_TOKEN": "hdr-secret-66666",
}
PROVIDER_KEYS = {"OPENAI_API_KEY": "sk-server-openai-77777", "ANTHROPIC_API_KEY": "sk-ant-server-88888"}
# Secrets the settings only refer to (`${VAR}`), in variables whose names say nothing of a secret.
REFERENCED = {"REF_ARG_VALUE": "ref-arg-secret-99999", "REF_ENV_VALUE": "ref-env-secret-12121"}
LEAKY = REPO / "tests" / "fixtures" / "leaky_mcp_server.py"


# -- a JWKS served over HTTP on loopback, as an identity provider serves it ---------------------


class _Jwks:
    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        self.document = json.dumps({"keys": [{**public, "kid": "test-key", "alg": "RS256", "use": "sig"}]}).encode()

    def token(self, **claims: Any) -> str:
        return jwt.encode(_claims(**claims), self.private_key, algorithm="RS256", headers={"kid": "test-key"})


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "alice", "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + 600, **overrides}


def hs256(**claims: Any) -> str:
    return jwt.encode(_claims(**claims), JWT_SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def jwks() -> Iterator[tuple[_Jwks, str]]:
    keys = _Jwks()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(keys.document)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield keys, f"http://127.0.0.1:{httpd.server_address[1]}/.well-known/jwks.json"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def llm_listener() -> Iterator[str]:
    """An OpenAI/Anthropic-compatible server that records every request's headers."""
    with fake_llm_server() as url:
        yield url


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, jwks: tuple[_Jwks, str]) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("secured")
    storage = root / "storage"
    copy_storage(storage)
    s = MCP_SECRETS
    (storage / "mcp_settings.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "leaky": {
                        "command": sys.executable,
                        "args": [str(LEAKY), f"--api-key={s['ARG_SECRET_ONE']}", "--token", s["ARG_SECRET_TWO"]],
                        "env": {"LEAKY_SECRET": s["ENV_SECRET"]},
                        "timeout": 10,
                    },
                    "referring": {
                        "command": sys.executable,
                        "args": [str(LEAKY), "--api-key=${REF_ARG_VALUE}"],
                        "env": {"LEAKY_SECRET": "${REF_ENV_VALUE}"},
                        "timeout": 10,
                    },
                    "unset": {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer ${ECHO_TEST_NEVER_SET}"}},
                    "remote": {
                        "url": f"http://user:{s['URL_PASSWORD']}@127.0.0.1:9/mcp?api_key={s['URL_QUERY']}&v=1",
                        "headers": {"Authorization": f"Bearer {s['HEADER_TOKEN']}"},
                        "timeout": 2,
                    },
                }
            },
            indent=2,
        )
    )
    keys_file = root / "keys.txt"
    # The file holds hashes only: no key is written to disk.
    keys_file.write_text(
        f"# team keys\n{stored_line(FULL_KEY, key_id='ci')}\n{stored_line(READ_KEY, key_id='dashboard', read_only=True)}\n"
    )
    assert FULL_KEY not in keys_file.read_text() and READ_KEY not in keys_file.read_text()
    env = {
        "ECHO_API_KEYS_FILE": str(keys_file),
        "ECHO_JWT_SECRET": JWT_SECRET,
        "ECHO_JWT_JWKS": jwks[1],
        "ECHO_JWT_AUDIENCE": AUDIENCE,
        "ECHO_JWT_ISSUER": ISSUER,
        **PROVIDER_KEYS,
        **REFERENCED,
    }
    with running_server(storage, "--plugins-dir", str(root / "plugins"), "--log-level", "info", env=env) as running:
        yield running


def auth(key: str = FULL_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"]["code"] == code and body["detail"] == body["error"]["message"]
    assert body["error"]["request_id"] == r.headers["x-request-id"]
    return body


# -- who is calling: HTTP and SSE ---------------------------------------------------------------


def test_http_requires_a_caller(secured: RunningServer, jwks: tuple[_Jwks, str]) -> None:
    with httpx.Client(base_url=secured.url) as c:
        assert c.get("/health").status_code == 200  # open, as the document's probes need
        assert c.get("/docs/openapi.json").status_code == 200
        r = c.get("/agents/list")
        assert_error(r, 401, "ERR_AUTH_001")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert_error(c.get("/agents/list", headers=auth("eo_wrong-key-0123456789abcdef")), 401, "ERR_AUTH_001")
        assert_error(c.get("/agents/list", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401, "ERR_AUTH_001")
        assert c.get("/agents/list", headers=auth()).status_code == 200
        assert c.get("/agents/list", headers={"X-API-Key": FULL_KEY}).status_code == 200
        assert_error(c.get("/agents/list", headers={"X-API-Key": "nope-nope-nope-nope"}), 401, "ERR_AUTH_001")

        # tokens: HS256 with the shared secret, RS256 with a key from the JWKS URL
        assert c.get("/agents/list", headers=auth(hs256())).status_code == 200
        assert c.get("/agents/list", headers=auth(jwks[0].token())).status_code == 200
        expired = assert_error(c.get("/agents/list", headers=auth(hs256(exp=int(time.time()) - 3600))), 401, "ERR_AUTH_001")
        assert "expired" in expired["detail"]
        assert_error(c.get("/agents/list", headers=auth(jwks[0].token(aud="someone-else"))), 401, "ERR_AUTH_001")
        assert_error(c.get("/agents/list", headers=auth(jwks[0].token(iss="https://evil.test"))), 401, "ERR_AUTH_001")
        forged = jwt.encode(_claims(), "not-the-secret-at-all-0123456789abcdef", algorithm="HS256")
        assert_error(c.get("/agents/list", headers=auth(forged)), 401, "ERR_AUTH_001")
        unsigned = jwt.encode(_claims(), None, algorithm="none")  # type: ignore[arg-type]
        assert_error(c.get("/agents/list", headers=auth(unsigned)), 401, "ERR_AUTH_001")


def test_read_only_key_reads_but_never_writes(secured: RunningServer) -> None:
    agent = {"agent_id": "ro_probe", "role": "Writer", "llm": {"provider": "echo"}}
    with httpx.Client(base_url=secured.url) as c:
        assert c.get("/workflows/sales-insights/final/1.0", headers=auth(READ_KEY)).status_code == 200
        assert_error(c.post("/agents/register", json=agent, headers=auth(READ_KEY)), 403, "ERR_AUTH_002")
        assert_error(c.post("/graphs/ASIS/execute", json={"input": {"task": "x"}}, headers=auth(READ_KEY)), 403, "ERR_AUTH_002")
        assert c.get("/agents/ro_probe", headers=auth()).status_code == 404  # nothing was written
        assert c.post("/agents/register", json=agent, headers=auth()).status_code == 201


def test_executions_record_the_caller_never_the_key(secured: RunningServer, jwks: tuple[_Jwks, str]) -> None:
    with httpx.Client(base_url=secured.url, timeout=30) as c:
        by_key = c.post("/graphs/ASIS/execute", json={"input": {"task": "who ran me"}}, headers=auth()).json()
        by_token = c.post("/graphs/ASIS/execute", json={"input": {"task": "who ran me"}}, headers=auth(jwks[0].token(sub="bob"))).json()
        first = c.get(f"/executions/{by_key['execution_id']}", headers=auth(READ_KEY)).json()
        second = c.get(f"/executions/{by_token['execution_id']}/info", headers=auth()).json()
    assert first["caller"] == "key:ci"
    assert second["caller"] == "token:bob"
    runtime = b"".join(p.read_bytes() for p in (secured.storage / "runtime").glob("runtime.sqlite*"))  # WAL too
    assert FULL_KEY.encode() not in runtime and b"key:ci" in runtime
    assert FULL_KEY not in secured.output()


def test_sse_requires_a_caller(secured: RunningServer) -> None:
    with httpx.Client(base_url=secured.url, timeout=30) as c:
        run = c.post("/graphs/ASIS/execute", json={"input": {"task": "stream"}}, headers=auth()).json()
        url = f"/executions/{run['execution_id']}/stream"
        assert_error(c.get(url), 401, "ERR_AUTH_001")
        with c.stream("GET", url, headers=auth(READ_KEY)) as r:
            assert r.status_code == 200
            assert "execution_completed" in "".join(r.iter_text())
        assert_error(c.post("/workflows/sales-insights/execute/stream", json={"inputs": {"input_data": "Q"}}), 401, "ERR_AUTH_001")


# -- WebSocket and Socket.IO -------------------------------------------------------------------


def ws(server: RunningServer, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


@pytest.mark.anyio
async def test_websocket_requires_a_caller_and_read_only_cannot_answer(secured: RunningServer, jwks: tuple[_Jwks, str]) -> None:
    for headers in ({}, auth("eo_wrong-key-0123456789abcdef"), auth(hs256(exp=int(time.time()) - 3600))):
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(ws(secured, "/ws/executions"), additional_headers=headers):
                pass
        assert refused.value.response.status_code == 401
        assert json.loads(refused.value.response.body or b"{}")["error"]["code"] == "ERR_AUTH_001"
    for headers in (auth(), auth(jwks[0].token()), {"X-API-Key": FULL_KEY}):
        async with websockets.connect(ws(secured, "/ws/executions"), additional_headers=headers) as socket:
            await socket.send(json.dumps({"event": "ping", "data": {"n": 1}}))
            assert json.loads(await socket.recv())["event"] == "pong"
    async with websockets.connect(ws(secured, "/ws/executions"), additional_headers=auth(READ_KEY)) as socket:
        await socket.send(json.dumps({"event": "submit_response", "data": {"prompt_id": "p1", "response": "approve"}}))
        frame = json.loads(await socket.recv())
    assert frame["event"] == "error" and frame["data"]["code"] == "ERR_AUTH_002"


async def assert_socketio_refused(server: RunningServer, **options: Any) -> None:
    client = socketio.AsyncClient(reconnection=False)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(server.url, namespaces=["/executions"], wait_timeout=5, **options)
    finally:
        with contextlib.suppress(Exception):  # half-open after a refusal: close what is left
            await client.disconnect()


@pytest.mark.anyio
async def test_socketio_requires_a_caller(secured: RunningServer) -> None:
    await assert_socketio_refused(secured, transports=["websocket"])
    await assert_socketio_refused(secured, auth={"token": "eo_wrong-key-0123456789abcdef"})

    for options in ({"auth": {"token": FULL_KEY}}, {"auth": {"api_key": READ_KEY}}, {"headers": auth()}):
        client = socketio.AsyncClient(reconnection=False)
        pongs: list[Any] = []
        client.on("pong", pongs.append, namespace="/executions")
        await client.connect(secured.url, namespaces=["/executions"], wait_timeout=5, **options)  # type: ignore[arg-type]
        await client.emit("ping", {"n": 2}, namespace="/executions")
        with anyio.fail_after(5):
            while not pongs:
                await anyio.sleep(0.02)
        await client.disconnect()


# -- browsers ----------------------------------------------------------------------------------


def test_browsers_cannot_post_forms_or_come_from_elsewhere(secured: RunningServer) -> None:
    body = json.dumps({"agent_id": "csrf_probe", "role": "Writer"})
    with httpx.Client(base_url=secured.url) as c:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            r = c.post("/agents/register", content=body, headers={**auth(), "Content-Type": content_type})
            assert_error(r, 415, "ERR_REQUEST_003")
        assert_error(c.post("/agents/register", content=body, headers=auth()), 415, "ERR_REQUEST_003")  # no type
        foreign = {**auth(), "Origin": "https://evil.example"}
        assert_error(c.post("/agents/register", json={"agent_id": "csrf_probe"}, headers=foreign), 403, "ERR_AUTH_002")
        assert_error(c.post("/executions/wfexec_x/cancel", headers=foreign), 403, "ERR_AUTH_002")  # no body needed
        own = {**auth(), "Origin": secured.url}
        assert c.get("/agents/csrf_probe", headers=own).status_code == 404  # nothing was created
        # DNS rebinding: a foreign name that resolves to our address
        assert_error(c.get("/agents/list", headers={**auth(), "Host": "attacker.example"}), 400, "ERR_REQUEST_001")
        assert_error(c.get("/health", headers={"Host": "attacker.example:8000"}), 400, "ERR_REQUEST_001")
        assert c.get("/health", headers={"Host": "localhost"}).status_code == 200


@pytest.mark.anyio
async def test_websocket_from_a_foreign_origin_is_refused(secured: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(ws(secured, "/ws/executions"), additional_headers=auth(), origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    async with websockets.connect(ws(secured, "/ws/executions"), additional_headers=auth(), origin=secured.url) as socket:  # type: ignore[arg-type]
        await socket.send(json.dumps({"event": "ping"}))
        assert json.loads(await socket.recv())["event"] == "pong"
    # Socket.IO: engine.io refuses the handshake itself from a foreign origin (as a browser
    # would send it; the stock Python client reports that refusal differently by aiohttp version).
    async with httpx.AsyncClient(base_url=secured.url) as c:
        foreign = await c.get("/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 400 and "sid" not in foreign.text
        own = await c.get("/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": secured.url})
        assert own.status_code == 200 and '"sid"' in own.text


# -- secrets never come back -------------------------------------------------------------------


def test_mcp_secrets_are_masked_and_scrubbed_everywhere(secured: RunningServer) -> None:
    texts: list[str] = []
    with httpx.Client(base_url=secured.url, headers=auth(), timeout=30) as c:
        settings = c.get("/mcp-servers/settings")
        assert settings.status_code == 200
        texts.append(settings.text)
        servers = {s["name"]: s for s in settings.json()["servers"]}
        assert servers["leaky"]["args"][1:] == ["--api-key=********", "--token", "********"]
        assert servers["leaky"]["env"] == {"LEAKY_SECRET": "********"}
        assert servers["remote"]["url"] == "http://********:********@127.0.0.1:9/mcp?api_key=********&v=********"
        assert servers["remote"]["headers"] == {"Authorization": "********"}
        assert not Path(settings.json()["mcp_settings_file"]).is_absolute() or str(secured.storage) in settings.json()["mcp_settings_file"]
        call = c.post("/mcp-tools/execute", json={"tool_id": "leaky-anything", "input": {}})
        assert call.status_code == 503, call.text
        assert "stderr" in call.json()["detail"] and "was refused" in call.json()["detail"]  # the reason survives
        texts.append(call.text)
        # `${VAR}` references: shown as written, resolved when the server starts (it printed the
        # value it got, scrubbed), and a variable the service lacks is named
        assert servers["referring"]["env"] == {"LEAKY_SECRET": "${REF_ENV_VALUE}"}
        assert servers["unset"]["headers"] == {"Authorization": "Bearer ${ECHO_TEST_NEVER_SET}"}
        referring = c.post("/mcp-tools/execute", json={"tool_id": "referring-anything", "input": {}})
        assert referring.status_code == 503, referring.text
        assert "fatal: key ******** was refused" in referring.json()["detail"]
        texts.append(referring.text)
        unset = c.post("/mcp-tools/execute", json={"tool_id": "unset-anything", "input": {}})
        assert unset.status_code == 503, unset.text
        assert "environment variable ECHO_TEST_NEVER_SET is not set (mcpServers.unset.headers.Authorization refers to it)" in unset.text
        texts.append(c.get("/mcp-servers").text)
        texts.append(c.get("/mcp-servers/status").text)
        texts.append(c.get("/mcp-servers/tools").text)
        texts.append(c.get("/service/health").text)
    secrets = [*MCP_SECRETS.values(), *REFERENCED.values(), *PROVIDER_KEYS.values(), FULL_KEY, READ_KEY, JWT_SECRET]
    for text in [*texts, secured.output()]:
        for secret in secrets:
            assert secret not in text


def test_no_server_path_in_answers(secured: RunningServer) -> None:
    absolute = str(secured.storage.resolve())
    with httpx.Client(base_url=secured.url, headers=auth()) as c:
        agent = {"agent_id": "path_probe", "role": "Writer"}
        created = c.post("/agents/register", json=agent)
        assert created.json()["path"] == "agents/path_probe.json"
        again = c.post("/agents/register", json=agent)
        assert again.status_code == 409 and absolute not in again.text
        wf = c.get("/workflows/sales-insights/final/1.0").json()
        saved = c.post("/workflows/temp/save", json={**wf, "workflow_id": "wf_path_probe", "slug": "path-probe", "status": "validated"})
        assert saved.json()["path"] == "workflows/temp/wf_path_probe.temp.json"
        for path in ("/service/health", "/graphs", "/agents/list", "/mcp-servers"):
            assert absolute not in c.get(path).text.replace(f'"root":"{absolute}"', "")


# -- keys never leave for an address a caller chose ----------------------------------------------


def test_provider_keys_never_go_where_a_caller_points(secured: RunningServer, llm_listener: str) -> None:
    before = len(httpx.get(f"{llm_listener}/_requests").json())
    attempts = [
        {"provider": "openai", "model": "gpt-4o-mini", "base_url": f"{llm_listener}/v1"},
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "base_url": llm_listener},
        {"provider": "openai", "model": "gpt-4o-mini", "params": {"openai_api_base": f"{llm_listener}/v1"}},
        {"provider": "openai", "model": "gpt-4o-mini", "params": {"model_kwargs": {"extra_headers": {"X": "1"}}}},
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "params": {"anthropic_api_url": llm_listener}},
        # a prefix that only looks like an allowed one is not one
        {"provider": "openai", "model": "gpt-4o-mini", "base_url": "https://api.openai.com.evil.example/v1"},
    ]
    with httpx.Client(base_url=secured.url, headers=auth(), timeout=30) as c:
        for llm in attempts:
            for route, body in (
                ("/graphs/ASIS/execute", {"input": {"task": "steal", "llm": llm}}),
                ("/execute", {"graph_name": "ASIS", "input": {"task": "steal", "llm": llm}}),
            ):
                r = c.post(route, json=body)
                refused = assert_error(r, 422, "ERR_VALIDATION_001")
                assert "ECHO_LLM_ALLOWED_BASE_URLS" in refused["detail"] or "llm.params" in refused["detail"]
            agent = {"agent_id": "thief", "role": "Writer", "llm": llm}
            refused = assert_error(c.post("/agents/register", json=agent), 422, "ERR_VALIDATION_001")
            assert refused["error"]["details"]["agent_id"] == "thief"
            assert_error(c.post("/workflows/design/prompt", json={"prompt": "Write a memo", "default_llm": llm}), 422, "ERR_VALIDATION_001")
        # An agent that reaches storage some other way (a git pull, an editor) is refused when
        # a run of a copy that uses the registry is asked for, and such a copy no longer
        # validates; a final version runs the agents it kept, so the planted file changes nothing there.
        final = c.get("/workflows/sales-insights/final/1.0").json()
        agent_id = final["agents"][0]
        agent_file = secured.storage / "agents" / f"{agent_id}.json"
        original = agent_file.read_text()
        planted = {**json.loads(original), "llm": attempts[0]}
        as_temp = {k: v for k, v in final.items() if k != "agent_definitions"} | {"workflow_id": "wf_planted", "slug": "planted"}
        assert c.post("/workflows/temp/save", json={**as_temp, "status": "validated"}).status_code == 200
        planted_final = secured.storage / "workflows" / "final" / "wf_sales_insights.v9.0.json"
        try:
            agent_file.write_text(json.dumps(planted, indent=2) + "\n")
            deadline = time.monotonic() + 5
            while c.get(f"/agents/{agent_id}").json()["llm"].get("base_url") is None:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            run = assert_error(c.post("/workflows/planted/execute", json={"inputs": {"input_data": "Q"}}), 422, "ERR_VALIDATION_001")
            assert f"agents.{agent_id}.llm.base_url" == run["error"]["details"]["errors"][0]["field"]
            check = c.post("/workflows/validate/final", json={"workflow": {**as_temp, "status": "draft"}})
            assert any("ECHO_LLM_ALLOWED_BASE_URLS" in e for e in check.json()["errors"])
            kept = c.post("/workflows/sales-insights/execute", json={"inputs": {"input_data": "Q"}})
            assert kept.status_code == 202, kept.text  # 1.0 runs the agent it kept
            # A version file planted with the agent inside it is refused all the same.
            version = {**final, "version": "9.0", "agent_definitions": {**final["agent_definitions"], agent_id: planted}}
            planted_final.write_text(json.dumps(version, indent=2) + "\n")
            deadline = time.monotonic() + 5
            while "9.0" not in c.get("/workflows/sales-insights/versions").json()["versions"]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            run = assert_error(c.post("/workflows/sales-insights/execute", json={"inputs": {"input_data": "Q"}}), 422, "ERR_VALIDATION_001")
            assert f"agents.{agent_id}.llm.base_url" == run["error"]["details"]["errors"][0]["field"]
        finally:
            agent_file.write_text(original)
            planted_final.unlink(missing_ok=True)
    assert len(httpx.get(f"{llm_listener}/_requests").json()) == before  # the listener heard nothing


def test_keys_new_prints_a_key_and_its_stored_line(tmp_path: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "echo_orchestrator", "keys", "new", "--read-only", "--id", "grafana"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    line = made.stderr.strip().splitlines()[-1]
    assert key.startswith("eo_") and len(key) > 40
    assert line.startswith("sha256:") and line.endswith("id=grafana read-only") and key not in line
    (tmp_path / "keys").write_text(line + "\n")
    copy_storage(tmp_path / "storage")
    env = {"ECHO_API_KEYS_FILE": str(tmp_path / "keys")}
    with running_server(tmp_path / "storage", "--plugins-dir", str(tmp_path / "p"), env=env) as server:
        assert httpx.get(f"{server.url}/agents/list", headers=auth(key)).status_code == 200
        assert httpx.post(f"{server.url}/agents/register", json={"agent_id": "x"}, headers=auth(key)).status_code == 403


@pytest.mark.parametrize(
    ("command", "said"),
    [
        # Refused before anything binds the port.
        (["serve", "--workers", "2", "--port", "8999"], "refusing --workers 2 on the embedded SQLite runtime"),
        (["serve", "--no-worker", "--port", "8999"], "refusing --no-worker on the embedded SQLite runtime"),
        (["worker"], "a worker takes runs from the queue of a shared runtime"),
    ],
)
def test_queue_roles_refuse_the_embedded_runtime(tmp_path: Path, command: list[str], said: str) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("ECHO_")}
    refused = subprocess.run(
        [sys.executable, "-m", "echo_orchestrator", *command, "--storage", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert said in line and "ECHO_RUNTIME_URL=postgresql://" in line


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "echo_orchestrator", "serve", "--host", "0.0.0.0", "--port", str(free_port()), "--storage", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in __import__("os").environ.items() if not k.startswith("ECHO_")},
    )
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to serve on 0.0.0.0 without authentication" in lines[0]
    assert "--allow-unauthenticated" in lines[0] and "Traceback" not in refused.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "echo_orchestrator", "serve", "--port", str(free_port()), "--storage", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**__import__("os").environ, "ECHO_API_KEYS": "short"},
    )
    assert bad.returncode == 2 and "at least 16 characters" in bad.stderr and "Traceback" not in bad.stderr


# -- rate limits -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("limited")
    copy_storage(root / "storage")
    env = {
        "ECHO_API_KEYS": f"{FULL_KEY},{READ_KEY} id=other",
        "ECHO_RATE_LIMIT_PER_HOUR": "6",
    }
    with running_server(root / "storage", "--plugins-dir", str(root / "plugins"), env=env) as running:
        yield running


def test_rate_limit_headers_count_down_then_429(limited: RunningServer) -> None:
    with httpx.Client(base_url=limited.url) as c:
        seen = []
        for _ in range(6):
            r = c.get("/agents/list", headers=auth())
            assert r.status_code == 200
            seen.append(int(r.headers["x-ratelimit-remaining"]))
            assert r.headers["x-ratelimit-limit"] == "6"
            reset = int(r.headers["x-ratelimit-reset"])
            assert time.time() < reset <= time.time() + 3601  # epoch seconds, as the document shows
        assert seen == [5, 4, 3, 2, 1, 0]
        over = c.get("/agents/list", headers=auth())
        assert_error(over, 429, "ERR_RATE_001")
        assert 0 < int(over.headers["retry-after"]) <= 3600 and over.headers["x-ratelimit-remaining"] == "0"
        # per caller: another key has its own budget; /health is never counted
        assert c.get("/agents/list", headers=auth(READ_KEY)).headers["x-ratelimit-remaining"] == "5"
        for _ in range(2):  # an open route shows the (anonymous) address's figures without counting
            health = c.get("/health")
            assert health.status_code == 200 and health.headers["x-ratelimit-remaining"] == "6"
        # a refused caller counts against its address, and its 401 carries the headers too
        unknown = c.get("/agents/list", headers=auth("eo_unknown-key-0123456789abcdef"))
        assert unknown.status_code == 401 and unknown.headers["x-ratelimit-remaining"] == "5"


@pytest.fixture(scope="module")
def tool_limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("tool_limited")
    copy_storage(root / "storage")
    env = {"ECHO_API_KEYS": FULL_KEY, "ECHO_MCP_TOOL_CALLS_PER_HOUR": "2", "ECHO_MAX_EXECUTIONS_PER_CALLER": "1"}
    with running_server(root / "storage", "--plugins-dir", str(root / "plugins"), env=env) as running:
        yield running


def test_mcp_tool_calls_and_concurrent_executions_are_limited(tool_limited: RunningServer) -> None:
    call = {"tool_id": "plugins-calculator", "input": {"expression": "1+1"}}
    with httpx.Client(base_url=tool_limited.url, headers=auth(), timeout=30) as c:
        assert c.post("/mcp-tools/execute", json=call).status_code == 200
        assert c.post("/mcp-tools/execute", json=call).status_code == 200
        over = c.post("/mcp-tools/execute", json=call)
        assert_error(over, 429, "ERR_RATE_001")
        assert int(over.headers["retry-after"]) > 0
        assert c.get("/agents/list").status_code == 200  # other routes are not tool calls

        slow = {"input": {"task": "hold a slot", "llm": {"provider": "echo", "latency_ms": 1500}}, "async": True}
        first = c.post("/graphs/ASIS/execute", json=slow)
        assert first.status_code == 202
        second = c.post("/graphs/ASIS/execute", json=slow)
        body = assert_error(second, 429, "ERR_RATE_001")
        assert body["error"]["details"] == {"limit": 1, "active": 1} and second.headers["retry-after"] == "1"
        deadline = time.monotonic() + 20
        while c.get(f"/executions/{first.json()['execution_id']}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert c.post("/graphs/ASIS/execute", json=slow).status_code == 202  # the slot is free again
