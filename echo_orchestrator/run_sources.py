"""Where a terminal view gets an execution's events from, and how it answers and cancels:
a server over HTTP (SSE with `Last-Event-ID` reconnects; REST for the rest), the engine in
this process (`run`), or the runtime database that a server writes (`follow`).

The first two also give the live `llm_token` pieces (as `(last seq, "llm_token", data)`);
the runtime database has none (they are never stored)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import anyio
import httpx
from httpx_sse import aconnect_sse

from echo_orchestrator.errors import BadRequest, RemoteError

TOKEN_EVENT = "llm_token"
TERMINAL = {"execution_completed": "completed", "execution_failed": "failed", "execution_cancelled": "cancelled"}
GRAPH_PREFIX = "graph:"


class Source(Protocol):
    async def start(self, target: str, inputs: Mapping[str, Any]) -> str: ...

    def events(self, execution_id: str) -> AsyncIterator[tuple[int, str, dict[str, Any]]]: ...

    async def respond(self, execution_id: str, answer: Mapping[str, Any]) -> None: ...

    async def pending_prompt(self, execution_id: str) -> str | None:
        """The prompt id the execution waits on now (a replayed prompt may be long answered)."""

    async def cancel(self, execution_id: str) -> None:
        """Stop the execution now (Ctrl-C at the terminal)."""

    async def result(self, execution_id: str) -> dict[str, Any]:
        """The ended execution: status, outputs, error."""


class RemoteSource:
    """A running server: start over REST, follow over SSE (reconnecting with Last-Event-ID)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def start(self, target: str, inputs: Mapping[str, Any]) -> str:
        if target.startswith(GRAPH_PREFIX):
            r = await self._client.post(f"/graphs/{target.removeprefix(GRAPH_PREFIX)}/execute", json={"input": dict(inputs), "async": True})
        else:
            r = await self._client.post(f"/workflows/{target}/execute", json={"inputs": dict(inputs)})
        raise_for(r)
        return str(r.json()["execution_id"])

    async def events(self, execution_id: str) -> AsyncIterator[tuple[int, str, dict[str, Any]]]:
        last = 0
        for attempt in range(1, 6):
            try:
                headers = {"Last-Event-ID": str(last)} if last else {}
                url = f"/executions/{execution_id}/stream?tokens=true"
                async with aconnect_sse(self._client, "GET", url, headers=headers, timeout=None) as source:
                    if source.response.status_code != 200:
                        await source.response.aread()
                        raise_for(source.response)
                    async for event in source.aiter_sse():
                        if event.event == TOKEN_EVENT and event.data:  # live only: no id, `last` stays
                            yield last, TOKEN_EVENT, json.loads(event.data)
                            continue
                        if not event.data or not event.id:
                            continue  # a keep-alive
                        last = int(event.id)
                        yield last, event.event, json.loads(event.data)
                        if event.event in TERMINAL:
                            return
                return  # the server ended the stream: the execution had already ended
            except httpx.TransportError:
                if attempt == 5:
                    raise
                await anyio.sleep(0.5 * attempt)  # reconnect; Last-Event-ID resumes after `last`

    async def respond(self, execution_id: str, answer: Mapping[str, Any]) -> None:
        raise_for(await self._client.post(f"/executions/{execution_id}/respond", json=dict(answer)))

    async def pending_prompt(self, execution_id: str) -> str | None:
        r = await self._client.get(f"/executions/{execution_id}")
        raise_for(r)
        return waiting_on(r.json().get("status"), r.json().get("pending_prompt"))

    async def cancel(self, execution_id: str) -> None:
        body = {"graceful": False, "reason": "cancelled at the terminal (Ctrl-C)"}
        raise_for(await self._client.post(f"/executions/{execution_id}/cancel", json=body))

    async def result(self, execution_id: str) -> dict[str, Any]:
        r = await self._client.get(f"/executions/{execution_id}/info")
        raise_for(r)
        info: dict[str, Any] = r.json()
        found = {k: info.get(k) for k in ("execution_id", "status", "outputs", "error", "duration_seconds")}
        return {**found, "total_steps": (info.get("progress") or {}).get("total_steps")}


class LocalRunSource:
    """The engine in this process, on the local storage."""

    def __init__(self, services: Any) -> None:
        self._services = services

    async def start(self, target: str, inputs: Mapping[str, Any]) -> str:
        from echo_orchestrator.models import ExecutionConfig

        api = self._services.executions
        if target.startswith(GRAPH_PREFIX):
            execution = await api.start_graph(target.removeprefix(GRAPH_PREFIX), inputs, ExecutionConfig())
        else:
            execution = await api.start_workflow(target, inputs, ExecutionConfig(), {"started_by": "cli"})
        return str(execution.execution_id)

    async def events(self, execution_id: str) -> AsyncIterator[tuple[int, str, dict[str, Any]]]:
        from echo_orchestrator.models import Token
        from echo_orchestrator.services.live import token_data

        last = 0
        async for event in self._services.feed.follow(execution_id, until_end=True, tokens=True):
            if isinstance(event, Token):
                yield last, TOKEN_EVENT, token_data(event)
            elif event is not None:
                last = event.seq
                yield event.seq, event.event_type, event.data

    async def respond(self, execution_id: str, answer: Mapping[str, Any]) -> None:
        await self._services.executions.respond(
            execution_id, str(answer["prompt_id"]), str(answer["response"]), answer.get("changes") or {}, answer.get("reason")
        )

    async def pending_prompt(self, execution_id: str) -> str | None:
        execution = await self._services.executions.get(execution_id)
        return waiting_on(execution.status, execution.pending_prompt)

    async def cancel(self, execution_id: str) -> None:
        await self._services.executions.cancel(execution_id, graceful=False, reason="cancelled at the terminal (Ctrl-C)")

    async def result(self, execution_id: str) -> dict[str, Any]:
        return result_of(await self._services.executions.get(execution_id))


def result_of(execution: Any) -> dict[str, Any]:
    import msgspec

    started = execution.started_at or execution.created_at
    duration = (execution.completed_at - started).total_seconds() if execution.completed_at and started else None
    return {
        "execution_id": execution.execution_id,
        "status": execution.status,
        "outputs": execution.outputs,
        "error": msgspec.to_builtins(execution.error),
        "duration_seconds": None if duration is None else round(duration, 3),
        "total_steps": execution.total_steps,
    }


class StoredSource:
    """The runtime database of a storage folder, read as it grows: follows an execution that
    another process (a server, another `run`) is running."""

    def __init__(self, runtime: Any, poll: float = 0.2) -> None:
        self._runtime, self._poll = runtime, poll

    async def start(self, target: str, inputs: Mapping[str, Any]) -> str:
        raise BadRequest("start with `run`")

    async def events(self, execution_id: str) -> AsyncIterator[tuple[int, str, dict[str, Any]]]:
        last = 0
        await self._runtime.get_execution(execution_id)
        while True:
            events = await self._runtime.events_after(execution_id, last, 500)
            for event in events:
                last = event.seq
                yield event.seq, event.event_type, event.data
                if event.event_type in TERMINAL:
                    return
            if not events:
                await anyio.sleep(self._poll)

    async def respond(self, execution_id: str, answer: Mapping[str, Any]) -> None:
        raise BadRequest("Answering needs the process that runs the execution: follow it with --server URL")

    async def pending_prompt(self, execution_id: str) -> str | None:
        execution = await self._runtime.get_execution(execution_id)
        return waiting_on(execution.status, execution.pending_prompt)

    async def cancel(self, execution_id: str) -> None:
        raise BadRequest("Cancelling needs the process that runs the execution, or POST /executions/{id}/cancel on a server")

    async def result(self, execution_id: str) -> dict[str, Any]:
        return result_of(await self._runtime.get_execution(execution_id))


def waiting_on(status: Any, prompt: Any) -> str | None:
    return str(prompt.get("prompt_id")) if status == "paused" and isinstance(prompt, dict) else None


def server_client(server: str) -> httpx.AsyncClient:
    """A client of a server; `ECHO_API_KEY` (a key or a JWT) authenticates it when set."""
    key = os.environ.get("ECHO_API_KEY", "").strip()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(base_url=normalise_server(server), timeout=30, headers=headers)


def normalise_server(server: str) -> str:
    """`--server` as given: `host:port`, `localhost:8000`, or a full URL."""
    text = server.strip().rstrip("/")
    if "://" not in text:
        text = f"http://{text}"
    scheme = text.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"--server {server!r}: use host:port or an http(s):// URL")
    return text


def raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    raise RemoteError(f"{response.status_code}: {error.get('message') or response.text[:200]}", details=error.get("details") or {})
