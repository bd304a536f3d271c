from __future__ import annotations

import pytest

from echo_orchestrator.security.network import (
    client_address,
    effective_allowed_hosts,
    host_allowed,
    local_by_name,
    normalise_origin,
    origin_allowed,
)


def test_allowed_hosts_default_to_loopback_names_on_a_loopback_bind() -> None:
    hosts = effective_allowed_hosts("127.0.0.1", ())
    assert host_allowed("127.0.0.1:8000", hosts) and host_allowed("localhost", hosts) and host_allowed("[::1]:8000", hosts)
    assert not host_allowed("attacker.example", hosts) and not host_allowed(None, hosts)
    assert not host_allowed("localhost.attacker.example", hosts)
    assert effective_allowed_hosts("0.0.0.0", ()) == ("*",)
    configured = effective_allowed_hosts("0.0.0.0", ("api.example.com", "*.internal.example"))
    assert host_allowed("API.example.com:443", configured) and host_allowed("a.internal.example", configured)
    assert not host_allowed("example.com", configured) and not host_allowed("internal.example.evil", configured)


@pytest.mark.parametrize(
    ("origin", "allowed", "ok"),
    [
        (None, (), True),  # not a browser
        ("http://127.0.0.1:8000", (), True),  # our own origin
        ("http://127.0.0.1:8001", (), False),
        ("https://evil.example", (), False),
        ("null", (), False),
        ("https://app.example.com", ("https://app.example.com",), True),
        ("https://app.example.com:443", ("https://app.example.com",), True),
        ("http://app.example.com", ("https://app.example.com",), False),
        ("https://evil.example", ("*",), True),
    ],
)
def test_origins(origin: str | None, allowed: tuple[str, ...], ok: bool) -> None:
    assert origin_allowed(origin, "127.0.0.1:8000", "http", allowed) is ok


def test_normalise_origin() -> None:
    assert normalise_origin("HTTP://Example.COM:80/") == "http://example.com"
    assert normalise_origin("https://[::1]:8443") == "https://[::1]:8443"
    assert normalise_origin("file:///etc/passwd") is None and normalise_origin("http://x:notaport") is None


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    assert client_address("10.0.0.5", "1.2.3.4", ()) == "10.0.0.5"
    assert client_address("203.0.113.9", "1.2.3.4", ("10.0.0.0/8",)) == "203.0.113.9"  # not our proxy
    # a client may put anything on the left; our proxies appended the right-hand entries
    assert client_address("10.0.0.5", "6.6.6.6, 1.2.3.4", ("10.0.0.0/8",)) == "1.2.3.4"
    assert client_address("10.0.0.5", "1.2.3.4, 10.0.0.7", ("10.0.0.0/8",)) == "1.2.3.4"
    assert client_address("10.0.0.5", "garbage", ("10.0.0.0/8",)) == "garbage"


def test_a_loopback_name_from_this_machine_passes_any_host_rule() -> None:
    assert local_by_name("127.0.0.1:8000", ("127.0.0.1", 5123)) and local_by_name("localhost", ("::1", 1))
    assert local_by_name("[::1]:8000", ("127.0.0.1", 1))
    assert not local_by_name("api.example.com", ("127.0.0.1", 1))  # a foreign name, even from here
    assert not local_by_name("127.0.0.1", ("10.0.0.7", 1))  # a loopback name from elsewhere
    assert not local_by_name(None, ("127.0.0.1", 1)) and not local_by_name("localhost", None)
