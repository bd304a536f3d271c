"""Where a run's end may be told: the URLs of completion webhooks.

The same rule as an LLM's `base_url` (`security.egress`), for addresses a caller writes: an
address on the operator's list (`ECHO_WEBHOOK_ALLOWED_URLS`, URL prefixes) is allowed
wherever it points; any other must name a host whose every address is public (never
loopback, private, link-local, shared, reserved or multicast), unless the operator turned
that off (`ECHO_WEBHOOK_PUBLIC_URLS=false`: the list only). A delivery connects to the
address that was checked (no second lookup a DNS rebinding could answer differently), and
redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import anyio

from echo_orchestrator.errors import EgressRefused
from echo_orchestrator.security.egress import UrlPrefix

ALLOWED_SETTING = "ECHO_WEBHOOK_ALLOWED_URLS"
PUBLIC_SETTING = "ECHO_WEBHOOK_PUBLIC_URLS"

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True, slots=True)
class Destination:
    """A checked URL, and the address to connect to (None: the operator's list allows the
    URL as it is)."""

    url: str
    host: str
    address: str | None

    def pinned(self) -> tuple[str, dict[str, str], dict[str, str]]:
        """(URL to request, headers, httpx extensions) that reach the checked address."""
        if self.address is None:
            return self.url, {}, {}
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if ":" in self.address else self.address
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        header_host = parts.netloc.rsplit("@", 1)[-1]
        extensions = {"sni_hostname": self.host} if parts.scheme == "https" else {}
        return url, {"Host": header_host}, extensions


class WebhookDestinations:
    def __init__(self, allowed: Sequence[str] = (), *, public: bool = True, resolver: Resolver = resolve) -> None:
        self._allowed = [p for p in (UrlPrefix.parse(u) for u in allowed) if p is not None]
        self._public = public
        self._resolve = resolver

    async def check(self, url: str, field: str) -> Destination:
        """The destination, or `EgressRefused` naming `field` and why."""
        wanted = UrlPrefix.parse(url)
        if wanted is None:
            raise EgressRefused(f"{field}: {url[:200]!r} is not an http(s) URL without credentials", field)
        if any(prefix.covers(wanted) for prefix in self._allowed):
            return Destination(url, wanted.host, None)
        if not self._public:
            raise EgressRefused(f"{field}: {url[:200]!r} is not an address the operator allowed (see {ALLOWED_SETTING})", field)
        try:
            addresses = await self._resolve(wanted.host, wanted.port)
        except OSError as exc:
            raise EgressRefused(f"{field}: the host {wanted.host!r} cannot be resolved ({exc})", field) from exc
        private = [a for a in addresses if not is_public(a)]
        if private or not addresses:
            raise EgressRefused(
                f"{field}: {wanted.host!r} resolves to {', '.join(private) or 'nothing'}, which is not a public address; "
                f"the operator may allow it by adding its prefix to {ALLOWED_SETTING}",
                field,
            )
        return Destination(url, wanted.host, addresses[0])
