"""Where completion webhooks may go: the operator's prefixes anywhere, other URLs only when
every address their host resolves to is public; a delivery connects to the address checked."""

from __future__ import annotations

import pytest

from echo_orchestrator.errors import EgressRefused
from echo_orchestrator.security.destinations import WebhookDestinations, is_public

pytestmark = pytest.mark.anyio


def resolving(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.5", False),
        ("172.16.3.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # shared address space (carrier NAT)
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # loopback written as IPv6
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public


async def test_a_public_host_is_pinned_to_the_address_checked() -> None:
    rules = WebhookDestinations(resolver=resolving({"hooks.example.com": ["93.184.216.34"]}))
    found = await rules.check("https://hooks.example.com:8443/in?x=1", "webhook.url")
    url, headers, extensions = found.pinned()
    assert url == "https://93.184.216.34:8443/in?x=1" and headers == {"Host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}  # the certificate is checked for the name


@pytest.mark.parametrize(
    ("table", "url", "says"),
    [
        ({"rebound.example.com": ["93.184.216.34", "127.0.0.1"]}, "http://rebound.example.com/", "127.0.0.1"),
        ({"intranet.example.com": ["10.1.2.3"]}, "http://intranet.example.com/", "10.1.2.3"),
        ({}, "http://nowhere.invalid/", "cannot be resolved"),
        ({}, "http://user:pw@hooks.example.com/", "without credentials"),
        ({}, "gopher://hooks.example.com/", "not an http(s) URL"),
    ],
)
async def test_a_host_that_is_not_only_public_is_refused(table: dict[str, list[str]], url: str, says: str) -> None:
    with pytest.raises(EgressRefused, match=says.replace("(", r"\(").replace(")", r"\)")) as refused:
        await WebhookDestinations(resolver=resolving(table)).check(url, "notify[0].url")
    assert refused.value.field == "notify[0].url"


async def test_the_operators_list_allows_private_addresses_and_can_be_the_only_way() -> None:
    rules = WebhookDestinations(["http://10.1.2.3:8080/hooks"], public=False, resolver=resolving({"hooks.example.com": ["93.184.216.34"]}))
    allowed = await rules.check("http://10.1.2.3:8080/hooks/run-ended", "webhook.url")
    assert allowed.pinned() == ("http://10.1.2.3:8080/hooks/run-ended", {}, {})
    with pytest.raises(EgressRefused, match="ECHO_WEBHOOK_ALLOWED_URLS"):
        await rules.check("http://10.1.2.3:8080/admin", "webhook.url")  # beside the prefix, not below it
    with pytest.raises(EgressRefused, match="ECHO_WEBHOOK_ALLOWED_URLS"):
        await rules.check("https://hooks.example.com/", "webhook.url")  # public, but only the list goes
