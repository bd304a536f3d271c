"""The web console at `/ui` (docs/console.md): one page and its assets, shipped in the package.

The page holds no data: it asks for a key (kept in the browser's sessionStorage) and calls
the API with it, so every rule of the API applies to everything it shows or does. The page
and its assets are open like `/docs`; they carry a strict Content-Security-Policy (only this
origin's scripts, styles and connections; no inline script or style; no framing).
"""

from __future__ import annotations

import functools
from pathlib import Path

from litestar import Response, Router, get
from litestar.handlers import HTTPRouteHandler
from litestar.static_files import create_static_files_router

CONSOLE_DIR = Path(__file__).parent / "static" / "console"
PATH = "/ui"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
        "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@functools.cache
def _page() -> bytes:
    return (CONSOLE_DIR / "index.html").read_bytes()  # shipped in the package: read once


@get(PATH, include_in_schema=False, media_type="text/html")
async def console_page() -> Response[bytes]:
    return Response(_page(), media_type="text/html; charset=utf-8", headers=HEADERS)


def _with_headers(response: Response[object]) -> Response[object]:
    response.headers.update(HEADERS)
    return response


def console_routers() -> list[Router | HTTPRouteHandler]:
    assets = create_static_files_router(
        path=f"{PATH}/assets", directories=[CONSOLE_DIR], include_in_schema=False, name="console-assets", after_request=_with_headers
    )
    return [console_page, assets]
