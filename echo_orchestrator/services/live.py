"""Live sessions: one connected client (native WebSocket or Socket.IO) and the executions it
follows. The transports differ only in how a frame is written; the commands
(`join_execution`, `leave_execution`, `submit_response`, `ping`), the replay, the error
frames and the backpressure rule are here, once.

A client that joins with `tokens: true` also gets the runs' live `llm_token` pieces (never
stored, never replayed; `token_data`).

Each joined execution is forwarded by its own task, in a task group the transport owns.
A client too slow for its queue is dropped: the connection is closed with the reason, and
the client may reconnect and join again with `after_seq` to replay what it missed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import anyio
import msgspec
from anyio.abc import TaskGroup

from echo_orchestrator.engine.feed import EventFeed
from echo_orchestrator.errors import BadRequest, EchoError, Forbidden, Invalid, NotFound, SubscriberTooSlow
from echo_orchestrator.models import TOKEN_EVENT, Event, Token, rfc3339
from echo_orchestrator.security.callers import ANONYMOUS, Caller
from echo_orchestrator.security.payloads import check_json_payload
from echo_orchestrator.services.executions import ExecutionService

log = logging.getLogger(__name__)

COMMANDS = ("join_execution", "leave_execution", "submit_response", "ping")


def event_data(event: Event) -> dict[str, Any]:
    """An event as every transport sends it: its data, with `seq`, `event_id` and `timestamp`."""
    return {**event.data, "seq": event.seq, "event_id": event.event_id, "timestamp": rfc3339(event.timestamp)}


def token_data(token: Token) -> dict[str, Any]:
    """An `llm_token` as every transport sends it: no `seq` (it is not in the event log)."""
    return {
        "execution_id": token.execution_id,
        "call_id": token.call_id,
        "index": token.index,
        "delta": token.delta,
        "step_number": token.step_number,
        "node": token.node,
        "timestamp": rfc3339(token.timestamp),
    }


def token_frame(token: Token) -> str:
    """The native WebSocket frame of a token piece."""
    return msgspec.json.encode({"event": TOKEN_EVENT, "data": token_data(token)}).decode()


# Encoded frames of recent events: a hundred subscribers of one execution share one encoding.
_FRAMES: dict[tuple[str, int], str] = {}
_FRAMES_KEPT = 4096


def event_frame(event: Event) -> str:
    """The native WebSocket frame of an event: `{"event": <event_type>, "data": event_data}`."""
    key = (event.execution_id, event.seq)
    frame = _FRAMES.get(key)
    if frame is None:
        frame = msgspec.json.encode({"event": event.event_type, "data": event_data(event)}).decode()
        if len(_FRAMES) >= _FRAMES_KEPT:
            del _FRAMES[next(iter(_FRAMES))]  # the oldest
        _FRAMES[key] = frame
    return frame


def error_data(exc: EchoError, command: str | None = None) -> dict[str, Any]:
    return {"type": exc.type, "code": exc.code, "message": exc.message, "details": exc.details, "command": command}


class Transport(Protocol):
    async def send_event(self, event: Event) -> None:
        """Write one execution event (`event_type` as the frame's name, `event_data` as its data)."""

    async def send_token(self, token: Token) -> None:
        """Write one `llm_token` piece (`token_data`)."""

    async def send(self, name: str, data: Mapping[str, Any]) -> None:
        """Write a control frame: connected, left, response_accepted, pong, error."""

    async def drop(self, reason: str) -> None:
        """Close the connection because the client is too slow (must not wait on the client)."""


class LiveSession:
    def __init__(
        self, feed: EventFeed, executions: ExecutionService, transport: Transport, tasks: TaskGroup, *, caller: Caller = ANONYMOUS
    ) -> None:
        self._feed, self._executions, self._transport, self._tasks = feed, executions, transport, tasks
        # Who is connected: an answer counts against its limits; a read-only caller may
        # follow executions but not answer their prompts.
        self._caller = caller
        self._read_only = caller.read_only
        self.joined: dict[str, anyio.CancelScope] = {}

    async def handle_text(self, text: str | bytes) -> None:
        """A native WebSocket frame: `{"event": <command>, "data": {...}}`."""
        try:
            check_json_payload(text.encode() if isinstance(text, str) else text)
            frame = msgspec.json.decode(text)
        except BadRequest as exc:
            await self._transport.send("error", error_data(exc))
            return
        except msgspec.DecodeError as exc:
            await self._transport.send("error", error_data(BadRequest(f"Malformed frame, not JSON: {exc}")))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("event"), str):
            await self._transport.send("error", error_data(BadRequest('A frame is {"event": <command>, "data": {...}}')))
            return
        await self.handle(frame["event"], frame.get("data"))

    async def handle(self, command: str, data: Any) -> None:
        try:
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise Invalid(f"'{command}' data must be an object")
            if command == "join_execution":
                await self.join(_execution_id(data), after_seq=_after_seq(data), tokens=_flag(data, "tokens"))
            elif command == "leave_execution":
                await self.leave(_execution_id(data))
            elif command == "submit_response":
                if self._read_only:
                    raise Forbidden("This key may only read: it cannot answer a prompt")
                await self.submit_response(data)
            elif command == "ping":
                await self._transport.send("pong", data)
            else:
                raise BadRequest(f"Unknown command '{command}'; expected one of {', '.join(COMMANDS)}", details={"command": command})
        except EchoError as exc:
            await self._transport.send("error", error_data(exc, command))

    async def join(self, execution_id: str, *, after_seq: int = 0, tokens: bool = False) -> None:
        """Follow an execution: `connected` with its status, then its events after `after_seq`
        (stored ones first), then live ones (with `tokens`, the live `llm_token` pieces too).
        Joining again restarts from the new `after_seq`."""
        execution = await self._executions.runtime.get_execution(execution_id)  # NotFound as an error frame
        previous = self.joined.pop(execution_id, None)
        if previous is not None:
            previous.cancel()
        scope = self.joined[execution_id] = anyio.CancelScope()
        connected: dict[str, Any] = {"execution_id": execution_id, "status": execution.status, "after_seq": after_seq}
        if tokens:  # said only when asked: a client that did not ask sees the frame it always saw
            connected["tokens"] = True
        await self._transport.send("connected", connected)
        self._tasks.start_soon(self._forward, execution_id, after_seq, tokens, scope)

    async def leave(self, execution_id: str) -> None:
        scope = self.joined.pop(execution_id, None)
        if scope is not None:
            scope.cancel()
        await self._transport.send("left", {"execution_id": execution_id, "was_joined": scope is not None})

    async def submit_response(self, data: Mapping[str, Any]) -> None:
        prompt_id = data.get("prompt_id")
        if not isinstance(prompt_id, str) or not prompt_id:
            raise Invalid.at("prompt_id", "required", "submit_response needs 'prompt_id'")
        execution_id = data.get("execution_id") or await self._waiting_on(prompt_id)
        changes = data.get("changes") or {}
        if not isinstance(changes, dict):
            raise Invalid.at("changes", "an object", "'changes' must be an object")
        reason = data.get("reason")
        execution = await self._executions.respond(
            str(execution_id),
            prompt_id,
            str(data.get("response", "approve")),
            changes,
            None if reason is None else str(reason),
            caller=self._caller,
        )
        await self._transport.send(
            "response_accepted",
            {"execution_id": execution.execution_id, "prompt_id": prompt_id, "response": data.get("response", "approve")},
        )

    async def close(self) -> None:
        for scope in self.joined.values():
            scope.cancel()
        self.joined.clear()

    async def _waiting_on(self, prompt_id: str) -> str:
        """The joined execution whose pending prompt this is (the document's frame names only the prompt)."""
        runtime = self._executions.runtime
        for execution_id in self.joined:
            execution = await runtime.get_execution(execution_id)
            if execution.status == "paused" and (execution.pending_prompt or {}).get("prompt_id") == prompt_id:
                return execution_id
        raise NotFound(
            f"No joined execution is waiting on prompt '{prompt_id}'; join it first or give 'execution_id'",
            details={"prompt_id": prompt_id},
        )

    async def _forward(self, execution_id: str, after_seq: int, tokens: bool, scope: anyio.CancelScope) -> None:
        dropped: list[str] = []
        sent = after_seq

        def on_drop(reason: str) -> None:
            # The forwarder may be stuck writing to a client that stopped reading: stop it now.
            dropped.append(reason)
            scope.cancel()

        with scope:
            try:
                async for event in self._feed.follow(execution_id, after_seq=after_seq, on_drop=on_drop, tokens=tokens):
                    if isinstance(event, Token):
                        await self._transport.send_token(event)
                    elif event is not None:
                        await self._transport.send_event(event)
                        sent = event.seq
            except SubscriberTooSlow as exc:  # the transport found the client behind (Socket.IO)
                self._feed.bus.count_drop()
                dropped.append(exc.message)
            except EchoError as exc:
                await self._transport.send("error", error_data(exc, "join_execution"))
        if self.joined.get(execution_id) is scope:
            del self.joined[execution_id]
        if dropped:
            log.info("live client dropped on %s: %s", execution_id, dropped[0])
            await self._transport.drop(f"{dropped[0]}; join {execution_id} again with after_seq={sent}")


def _execution_id(data: Mapping[str, Any]) -> str:
    value = data.get("execution_id")
    if not isinstance(value, str) or not value:
        raise Invalid.at("execution_id", "required", "'execution_id' is required")
    return value


def _flag(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise Invalid.at(name, "boolean", f"'{name}' must be true or false")
    return value


def _after_seq(data: Mapping[str, Any]) -> int:
    value = data.get("after_seq", 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000_000_000:
        raise Invalid.at("after_seq", "integer >= 0", "'after_seq' must be a whole number >= 0")
    return value
