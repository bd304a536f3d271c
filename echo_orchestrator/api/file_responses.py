"""Serving a workspace file over HTTP: streamed from its open descriptor (never read whole),
with `Content-Length`, an `ETag` (304 on `If-None-Match`), and single byte ranges (206,
416 past the end), as RFC 9110 describes them."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from urllib.parse import quote

import anyio.to_thread
from litestar import Response
from litestar.response import Stream

from echo_orchestrator.errors import RangeNotSatisfiable
from echo_orchestrator.services.preconditions import matches
from echo_orchestrator.services.workspaces import OpenFile

CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def wants_range(range_header: str | None, if_range: str | None, etag: str) -> bool:
    """Whether a Range header asks for one range we will honour (several ranges, or an
    `If-Range` naming another version, get the whole file)."""
    if not range_header or "," in range_header or _RANGE.match(range_header.strip()) is None:
        return False
    return if_range is None or if_range.strip() == etag


def byte_range(range_header: str, size: int) -> tuple[int, int]:
    """The (first, last) byte offsets a single `bytes=` range names in a file of `size`."""
    match = _RANGE.match(range_header.strip())
    assert match is not None, "wants_range first"
    start, end = match.group(1), match.group(2)
    if not start and not end:
        raise RangeNotSatisfiable("The Range names no bytes", size=size)
    if not start:  # the last N bytes
        length = int(end)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable("The Range names no bytes of the file", size=size)
        return max(size - length, 0), size - 1
    first = int(start)
    last = min(int(end), size - 1) if end else size - 1
    if first >= size or (end and int(end) < first):
        raise RangeNotSatisfiable(f"The Range starts past the file's end ({size} bytes)", size=size)
    return first, last


async def _chunks(fd: int, first: int, length: int) -> AsyncIterator[bytes]:
    """The bytes [first, first + length) read a chunk at a time; the descriptor is closed
    when the body ends or the client goes away."""
    try:
        offset, left = first, length
        while left > 0:
            data = await anyio.to_thread.run_sync(os.pread, fd, min(CHUNK, left), offset)
            if not data:  # the file shrank while being sent
                break
            offset += len(data)
            left -= len(data)
            yield data
    finally:
        os.close(fd)


def file_response(opened: OpenFile, range_header: str | None, if_range: str | None, if_none_match: str | None) -> Response[bytes] | Stream:
    headers = {
        "ETag": opened.etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "no-cache",
        # A file a run wrote is data, not a page of this service: never sniffed, never scripted.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(opened.name)}",
    }
    if if_none_match is not None and matches(if_none_match, opened.etag):
        os.close(opened.fd)
        return Response(content=b"", status_code=304, headers=headers)
    status, first, length = 200, 0, opened.size
    if wants_range(range_header, if_range, opened.etag):
        assert range_header is not None
        try:
            first, last = byte_range(range_header, opened.size)
        except RangeNotSatisfiable:
            os.close(opened.fd)
            raise
        status, length = 206, last - first + 1
        headers["Content-Range"] = f"bytes {first}-{last}/{opened.size}"
    headers["Content-Length"] = str(length)
    return Stream(_chunks(opened.fd, first, length), status_code=status, media_type=opened.mime_type, headers=headers)
