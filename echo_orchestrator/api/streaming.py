"""Live events over HTTP: the native WebSocket (`/ws/executions[/{id}]`) and Server-Sent
Events (`GET /executions/{id}/stream`, `POST /workflows/{slug}/execute/stream`).

The protocol itself (commands, replay, error frames, dropping slow clients) lives in
`services/live.py`; this module only reads and writes frames.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, WebSocket, get, post, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK

from echo_orchestrator.api.schemas.executions import WorkflowExecuteRequest
from echo_orchestrator.api.schemas.paging import MAX_SEQ
from echo_orchestrator.api.security import caller_of
from echo_orchestrator.container import Services
from echo_orchestrator.errors import Invalid
from echo_orchestrator.models import TOKEN_EVENT, Event, Token
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.services.live import LiveSession, event_data, event_frame, token_data, token_frame

TOKENS_HELP = "Also send the live `llm_token` pieces of streaming model calls (never stored or replayed)"
# A close code in the application range: "dropped, too slow; reconnect and replay".
CLOSE_TOO_SLOW = 4008
# The close frame waits behind what the client has not read yet: a client that is slow, not
# gone, still gets it (and its reason); one that never reads is cut off after this.
CLOSE_GRACE_SECONDS = 5.0


class _SocketTransport:
    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        self._socket = socket
        # Frames from several joined executions never interleave; taken per frame, so the
        # uncontended case must not yield to the loop.
        self._lock = anyio.Lock(fast_acquire=True)
        self.closed = anyio.Event()
        self.drop_reason: str | None = None

    async def send_event(self, event: Event) -> None:
        await self._write(event_frame(event))

    async def send_token(self, token: Token) -> None:
        await self._write(token_frame(token))

    async def send(self, name: str, data: Mapping[str, Any]) -> None:
        await self._write(msgspec.json.encode({"event": name, "data": data}).decode())

    async def drop(self, reason: str) -> None:
        self.drop_reason = reason
        self.closed.set()

    async def _write(self, text: str) -> None:
        async with self._lock:
            await self._socket.send_text(text)


async def _serve(
    socket: WebSocket[Any, Any, Any], services: Services, execution_id: str | None, after_seq: int, tokens: bool = False
) -> None:
    caller = caller_of(socket.scope)
    await socket.accept()
    transport = _SocketTransport(socket)

    async def read(session: LiveSession) -> None:
        try:
            while True:
                await session.handle_text(await socket.receive_text())
        except WebSocketDisconnect:
            pass
        transport.closed.set()

    async with anyio.create_task_group() as tasks:
        session = LiveSession(services.feed, services.executions, transport, tasks, caller=caller)
        tasks.start_soon(read, session)
        if execution_id is not None:
            await session.handle("join_execution", {"execution_id": execution_id, "after_seq": after_seq, "tokens": tokens})
        await transport.closed.wait()
        tasks.cancel_scope.cancel()  # the reader and every forwarder of this connection
    if transport.drop_reason is not None:
        with anyio.move_on_after(CLOSE_GRACE_SECONDS):
            await socket.close(code=CLOSE_TOO_SLOW, reason=transport.drop_reason[:120])


@websocket("/ws/executions")
async def ws_executions(socket: WebSocket[Any, Any, Any], services: NamedDependency[Services]) -> None:
    """Native WebSocket: send `join_execution` / `leave_execution` / `submit_response` frames."""
    await _serve(socket, services, None, 0)


@websocket("/ws/executions/{execution_id:str}")
async def ws_execution(
    socket: WebSocket[Any, Any, Any],
    services: NamedDependency[Services],
    execution_id: FromPath[str],
    after_seq: Annotated[int, QueryParameter(name="after_seq", ge=0, le=MAX_SEQ)] = 0,
    tokens: Annotated[bool, QueryParameter(name="tokens", description=TOKENS_HELP)] = False,
) -> None:
    """Native WebSocket joined to one execution at once (`?after_seq=` replays after it;
    `?tokens=true` adds the live `llm_token` pieces)."""
    await _serve(socket, services, execution_id, after_seq, tokens)


def _last_event_id(header: str | None, after_seq: int | None) -> int:
    if after_seq is not None:
        return after_seq
    if header is None or not header.strip():
        return 0
    try:
        value = int(header.strip())
    except ValueError:
        raise Invalid.at("Last-Event-ID", "integer", "Last-Event-ID must be the seq of an event") from None
    if not 0 <= value <= MAX_SEQ:
        raise Invalid.at("Last-Event-ID", "integer >= 0", "Last-Event-ID must be >= 0")
    return value


def _sse(services: Services, execution_id: str, after_seq: int, tokens: bool) -> ServerSentEvent:
    heartbeat = services.settings.sse_keepalive_seconds

    async def messages() -> AsyncIterator[ServerSentEventMessage]:
        async for event in services.feed.follow(execution_id, after_seq=after_seq, until_end=True, heartbeat=heartbeat, tokens=tokens):
            if event is None:
                yield ServerSentEventMessage(comment="keep-alive")
            elif isinstance(event, Token):
                # No `id`: a reconnect's Last-Event-ID stays the last stored event's seq.
                yield ServerSentEventMessage(data=msgspec.json.encode(token_data(event)).decode(), event=TOKEN_EVENT)
            else:
                yield ServerSentEventMessage(
                    data=msgspec.json.encode(event_data(event)).decode(), event=event.event_type, id=str(event.seq)
                )

    # Proxies must not buffer an event stream.
    return ServerSentEvent(messages(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class StreamController(Controller):
    tags = ["streaming"]

    @get(
        "/executions/{execution_id:str}/stream",
        media_type="text/event-stream",
        summary="Follow an execution's events (SSE; Last-Event-ID resumes)",
    )
    async def stream_execution_events(
        self,
        services: NamedDependency[Services],
        execution_id: FromPath[str],
        last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID")] = None,
        after_seq: Annotated[int | None, QueryParameter(name="after_seq", ge=0, le=MAX_SEQ)] = None,
        tokens: Annotated[bool, QueryParameter(name="tokens", description=TOKENS_HELP)] = False,
    ) -> ServerSentEvent:
        await services.executions.get(execution_id)  # 404 before the stream starts
        return _sse(services, execution_id, _last_event_id(last_event_id, after_seq), tokens)

    @post(
        "/workflows/{workflow_slug:str}/execute/stream",
        status_code=HTTP_200_OK,
        media_type="text/event-stream",
        summary="Run a workflow and stream its events (SSE)",
    )
    async def execute_workflow_stream(
        self,
        services: NamedDependency[Services],
        caller: NamedDependency[Caller],
        workflow_slug: FromPath[str],
        data: JSONBody[WorkflowExecuteRequest],
        tokens: Annotated[bool, QueryParameter(name="tokens", description=TOKENS_HELP)] = False,
    ) -> ServerSentEvent:
        execution = await services.executions.start_workflow(
            workflow_slug, data.values, data.configured(data.config), data.metadata, caller
        )
        return _sse(services, execution.execution_id, 0, tokens)
