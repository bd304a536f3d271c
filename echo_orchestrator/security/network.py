"""Where a request comes from: its `Host`, its browser `Origin`, its client address.

`Host` is checked against DNS rebinding (a foreign name resolving to our loopback address);
`Origin` against cross-site use by web pages; the client address, through trusted proxies
only, is whose rate limit an anonymous request counts against.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from echo_orchestrator.settings import Settings

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def effective_allowed_hosts(bind_host: str, configured: Sequence[str]) -> tuple[str, ...]:
    """The `Host` names accepted: as configured, else the loopback names on a loopback
    bind, else any (keys are then required, so a rebound name gains nothing)."""
    if configured:
        return tuple(h.lower() for h in configured)
    if is_loopback(bind_host):
        return LOOPBACK_HOSTS
    return ("*",)


def host_name(host_header: str) -> str:
    """`example.com:8000` -> `example.com`; `[::1]:8000` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host_header: str | None, allowed: Iterable[str]) -> bool:
    name = host_name(host_header or "")
    for pattern in allowed:
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def local_by_name(host_header: str | None, peer: Sequence[Any] | None) -> bool:
    """A request from this machine that names it by a loopback name (a health probe in the
    container, the CLI next to the server): always let through the Host check. The check
    stops a foreign name rebound to our address, which a loopback name cannot be."""
    return peer is not None and bool(peer) and is_loopback(str(peer[0])) and is_loopback(host_name(host_header or ""))


def normalise_origin(origin: str) -> str | None:
    """`scheme://host[:port]` with the default port dropped; None if it is not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def origin_allowed(origin: str | None, host_header: str | None, scheme: str, allowed: Iterable[str]) -> bool:
    """No `Origin` (not a browser) passes; a browser passes from our own origin or an allowed one."""
    if origin is None:
        return True
    given = normalise_origin(origin)
    if given is None:
        return False  # `null` (sandboxed frames, file://) and anything malformed
    own = normalise_origin(f"{'https' if scheme in ('https', 'wss') else 'http'}://{host_header or ''}")
    if given == own:
        return True
    allowed = list(allowed)
    return "*" in allowed or given in {normalise_origin(a) for a in allowed}


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[str]) -> str:
    """The peer's address; through trusted proxies, the nearest address they did not add.

    `X-Forwarded-For` is read right to left: each hop appends the address it saw, so only
    the entries appended by our own proxies can be believed."""
    address = peer or "unknown"
    if not trusted or not forwarded_for:
        return address
    networks = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def is_trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in networks)

    if not is_trusted(address):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        address = hop
        if not is_trusted(hop):
            break
    return address


DEFAULT_REQUESTS_PER_HOUR = 1000  # the ouroboros document's limit


def private_local(settings: Settings) -> bool:
    """Served to this machine's own users only: bound to loopback, no keys or tokens, no
    proxy in front (no trusted proxies, no public Host name allowed)."""
    return (
        is_loopback(settings.host)
        and not settings.auth_configured
        and not settings.trusted_proxies
        and all(is_loopback(host) for host in settings.allowed_hosts)
    )


def requests_per_hour(settings: Settings) -> int:
    """The per-caller request limit in force: as set; unset, off (0) on a private local
    server and the document's 1000 anywhere else."""
    if settings.rate_limit_per_hour is not None:
        return settings.rate_limit_per_hour
    return 0 if private_local(settings) else DEFAULT_REQUESTS_PER_HOUR
