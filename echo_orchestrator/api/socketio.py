"""Socket.IO compatibility: `/socket.io/`, namespace `/executions`, the same events and
commands as the native WebSocket, so the ouroboros document's connection URL works with
stock Socket.IO clients (python-socketio, socket.io-client).

python-socketio is an ASGI app of its own, mounted under `/socket.io`. Its connections
outlive any request, so their forwarding tasks run in a task group the app's lifespan owns.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import socketio
from anyio.abc import TaskGroup
from litestar import asgi
from litestar.enums import ScopeType
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send, WebSocketSendEvent

from echo_orchestrator.api.security import SELF_AUTHENTICATED, SecurityPolicy
from echo_orchestrator.container import Services
from echo_orchestrator.errors import SubscriberTooSlow, Unauthorized
from echo_orchestrator.models import TOKEN_EVENT, Event, Token
from echo_orchestrator.security.callers import Caller, bearer_of
from echo_orchestrator.security.network import origin_allowed
from echo_orchestrator.services.live import LiveSession, event_data, token_data

NAMESPACE = "/executions"
log = logging.getLogger(__name__)


class _SioTransport:
    def __init__(self, server: socketio.AsyncServer, sid: str, backlog_limit: int) -> None:
        self._server, self._sid, self._limit = server, sid, backlog_limit

    async def send_event(self, event: Event) -> None:
        self._keeping_up(event.execution_id)
        await self._server.emit(event.event_type, event_data(event), to=self._sid, namespace=NAMESPACE)

    async def send_token(self, token: Token) -> None:
        self._keeping_up(token.execution_id)
        await self._server.emit(TOKEN_EVENT, token_data(token), to=self._sid, namespace=NAMESPACE)

    def _keeping_up(self, execution_id: str) -> None:
        # engine.io queues outgoing packets without a bound and never makes `emit` wait, so
        # a slow client is recognised by the length of its queue instead.
        if self._backlog() > self._limit:
            raise SubscriberTooSlow(f"too slow: more than {self._limit} packets waiting to be sent", details={"execution_id": execution_id})

    async def send(self, name: str, data: Mapping[str, Any]) -> None:
        await self._server.emit(name, dict(data), to=self._sid, namespace=NAMESPACE)

    async def drop(self, reason: str) -> None:
        await self._server.disconnect(self._sid, namespace=NAMESPACE, ignore_queue=True)

    def _backlog(self) -> int:
        eio_sid = self._server.manager.eio_sid_from_sid(self._sid, NAMESPACE)
        engine_socket = self._server.eio.sockets.get(eio_sid) if eio_sid else None
        return 0 if engine_socket is None else int(engine_socket.queue.qsize())


class _ExecutionsNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, bridge: SocketIOBridge) -> None:
        super().__init__(NAMESPACE)
        self._bridge = bridge
        self._sessions: dict[str, LiveSession] = {}

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            sid, environ = args[0], args[1]
            auth = args[2] if len(args) > 2 else None
            return await self._connect(sid, environ, auth)
        if event == "disconnect":
            session = self._sessions.pop(args[0], None)
            if session is not None:
                await session.close()
            return None
        session = self._sessions.get(args[0])
        if session is not None:  # every other event is a command, known or not (error frame)
            await session.handle(event, args[1] if len(args) > 1 else None)
        return None

    async def _connect(self, sid: str, environ: Mapping[str, Any], auth: Any) -> bool:
        services, tasks = self._bridge.services, self._bridge.tasks
        if services is None or tasks is None:
            return False
        caller = await self._bridge.authenticate(environ, auth)
        transport = _SioTransport(self.server, sid, services.settings.stream_buffer)
        session = self._sessions[sid] = LiveSession(services.feed, services.executions, transport, tasks, caller=caller)
        # `?execution_id=` (the document's websocket_url) joins at once, after the handshake.
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        if "execution_id" in query:
            data: dict[str, Any] = {"execution_id": query["execution_id"][0]}
            if "after_seq" in query and query["after_seq"][0].isdigit():
                data["after_seq"] = int(query["after_seq"][0])
            if "tokens" in query:
                data["tokens"] = query["tokens"][0].lower() in ("1", "true", "yes")
            tasks.start_soon(session.handle, "join_execution", data)
        return True


# A frame of the native protocol (`{"event": …}`) sent to the Socket.IO URL: engine.io packets
# start with a digit, so this is a client speaking another protocol.
PROTOCOL_HELP = (
    "This is the Socket.IO endpoint (engine.io v4 packets, namespace /executions): use a Socket.IO "
    'client, or send {"event": ..., "data": ...} JSON frames to the native WebSocket at /ws/executions'
)
CLOSE_PROTOCOL_ERROR = 1002
ENGINE_IO_PACKET_TYPES = tuple("0123456")  # every engine.io text packet starts with its type


def _refusing_foreign_frames(receive: Receive, send: Send) -> Receive:
    """engine.io closes with 4500 and says nothing when a frame is not one of its packets;
    a client that sent the native protocol's JSON gets an error frame naming the right URL
    and a protocol-error close instead, and the log says so."""

    async def checked() -> Any:
        message = await receive()
        text = message.get("text") if message["type"] == "websocket.receive" else None
        if isinstance(text, str) and text[:1] not in ENGINE_IO_PACKET_TYPES:
            log.warning("a client sent a frame that is not an engine.io packet to the Socket.IO endpoint (%r…)", text[:20])
            error = {"type": "ProtocolError", "code": "ERR_REQUEST_001", "message": PROTOCOL_HELP}
            frame: WebSocketSendEvent = {"type": "websocket.send", "text": json.dumps({"event": "error", "data": error}), "bytes": None}
            await send(frame)
            await send({"type": "websocket.close", "code": CLOSE_PROTOCOL_ERROR, "reason": "not a Socket.IO packet"})
            return {"type": "websocket.disconnect", "code": CLOSE_PROTOCOL_ERROR}
        return message

    return checked


class SocketIOBridge:
    def __init__(self, policy: SecurityPolicy) -> None:
        self._policy = policy
        # engine.io checks `Origin` on every handshake and poll: our own origin or an allowed one.
        self.server = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=self._origin_allowed)
        self.server.register_namespace(_ExecutionsNamespace(self))
        self._app = socketio.ASGIApp(self.server, socketio_path="socket.io")
        self.services: Services | None = None
        self.tasks: TaskGroup | None = None

    def _origin_allowed(self, origin: str | None, environ: Mapping[str, Any] | None = None) -> bool:
        host = (environ or {}).get("HTTP_HOST")
        scheme = str((environ or {}).get("wsgi.url_scheme", "http"))
        return origin_allowed(origin, host, scheme, self._policy.allowed_origins)

    async def authenticate(self, environ: Mapping[str, Any], auth: Any) -> Caller:
        """The connecting client: from its `auth` payload (`{"token": …}` or `{"api_key": …}`,
        what a browser can send) or the handshake's headers. Refused with the reason."""
        given = auth if isinstance(auth, dict) else {}
        token = given.get("token") or bearer_of(environ.get("HTTP_AUTHORIZATION"))
        api_key = given.get("api_key") or environ.get("HTTP_X_API_KEY")
        try:
            return await self._policy.authenticator.authenticate(
                bearer=None if token is None else str(token), api_key=None if api_key is None else str(api_key)
            )
        except Unauthorized as exc:
            raise socketio.exceptions.ConnectionRefusedError({"code": exc.code, "message": exc.message}) from None

    def attach(self, services: Services, tasks: TaskGroup) -> None:
        self.services, self.tasks = services, tasks

    def route(self) -> ASGIRouteHandler:
        app = self._app

        # It authenticates at the namespace's `connect` (where a browser can send a key).
        @asgi("/socket.io", is_mount=True, copy_scope=True, include_in_schema=False, opt={SELF_AUTHENTICATED: True})
        async def socket_io(scope: Scope, receive: Receive, send: Send) -> None:
            # Litestar strips the mount prefix; python-socketio routes on the full path.
            scope["path"] = "/socket.io" + scope["path"]
            if scope["type"] == ScopeType.WEBSOCKET:
                receive = _refusing_foreign_frames(receive, send)
            await app(scope, receive, send)

        return socket_io
