"""A webhook receiver on a loopback port, as a user would write one: it verifies each
request's Standard Webhooks signature with the `standardwebhooks` library, records it, and
answers the statuses it was told to (then 200); an answer of `HANG` holds the request for
two seconds before answering 200 (a receiver too slow for the sender's timeout)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

HANG = -1


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    verified: bool
    answered: int
    raw: bytes = b""


@dataclass
class Receiver:
    secret: str
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/echo"

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.received)} request(s) received, {count} expected")


@contextmanager
def receiving(secret: str, answers: Sequence[int] = ()) -> Iterator[Receiver]:
    receiver = Receiver(secret=secret, answers=list(answers))
    verifier = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                verifier.verify(body, headers, json_parse=False)
                verified = True
            except Exception:
                verified = False
            with receiver.lock:
                status = receiver.answers.pop(0) if receiver.answers else 200
                if not verified:
                    status = 401
            if status == HANG:
                time.sleep(2)
                status = 200
            with receiver.lock:
                receiver.received.append(Received(time.time(), self.path, headers, json.loads(body or b"{}"), verified, status, body))
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):  # the sender gave up waiting (HANG)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
