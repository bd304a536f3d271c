"""What may leave the machine: the addresses an LLM provider may be pointed at.

A provider with no `base_url` talks to its default endpoint (OpenAI's, Anthropic's) with the
key the operator gave it. Any other address must be one the operator allowed, by
`ECHO_LLM_ALLOWED_BASE_URLS` (URL prefixes), by the provider's own environment variable
(`OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`), or by a plugin provider's declared endpoints.
Nothing a caller writes (a request's `llm` block, a stored agent) can add one: otherwise any
caller could have the server send its keys, or any request, wherever it liked.

`params` pass through to the provider's client untouched, so the names that would move the
request or its credentials (`base_url`, `openai_api_base`, `default_headers`, `http_client`,
`api_key`, …) are refused there: an address goes only in `base_url`, where it is checked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from echo_orchestrator.errors import EgressRefused

SETTING = "ECHO_LLM_ALLOWED_BASE_URLS"
# Environment variables an operator sets to point a built-in provider elsewhere.
OPERATOR_BASE_URL_VARIABLES = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")
# Parameter names that address a request or carry a credential, at any depth of `params`.
_ROUTING_PARAM = re.compile(
    r"url|api_base|base|proxy|endpoint|host|header|client|key|secret|token$|password|organi[sz]ation|query|body", re.I
)


@dataclass(frozen=True, slots=True)
class UrlPrefix:
    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> UrlPrefix | None:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            return None
        default = 443 if parts.scheme == "https" else 80
        return cls(parts.scheme, parts.hostname.lower(), port or default, parts.path.rstrip("/"))

    def covers(self, other: UrlPrefix) -> bool:
        """Same scheme, host and port, and a path at or below ours (on a segment boundary)."""
        if (self.scheme, self.host, self.port) != (other.scheme, other.host, other.port):
            return False
        return not self.path or other.path == self.path or other.path.startswith(self.path + "/")


class EgressPolicy:
    def __init__(self, allowed: Iterable[str] = (), *, environ: Mapping[str, str] | None = None) -> None:
        self._configured = tuple(allowed)
        # Read when checking: the providers read their variables when they build a client.
        self._environ = environ

    def allows(self, base_url: str, extra: Sequence[str] = ()) -> bool:
        wanted = UrlPrefix.parse(base_url)
        if wanted is None:
            return False
        env = os.environ if self._environ is None else self._environ
        operator = [env[v] for v in OPERATOR_BASE_URL_VARIABLES if env.get(v)]
        prefixes = (UrlPrefix.parse(u) for u in (*self._configured, *operator, *extra))
        return any(p is not None and p.covers(wanted) for p in prefixes)

    def check(self, base_url: str | None, params: Mapping[str, Any], extra: Sequence[str] = ()) -> None:
        """Raise EgressRefused unless the block leaves the request where the operator allows."""
        if (name := _routing_param(params)) is not None:
            raise EgressRefused(
                f"llm.params.{name} is not accepted: an address goes in llm.base_url (allowed by {SETTING}), "
                "and credentials come from the server's environment",
                f"llm.params.{name}",
            )
        if base_url is not None and not self.allows(base_url, extra):
            raise EgressRefused(
                f"llm.base_url {base_url!r} is not an address the operator allowed: add its prefix to {SETTING} on the server to use it",
                "llm.base_url",
            )


def _routing_param(params: Mapping[str, Any], prefix: str = "") -> str | None:
    for name, value in params.items():
        path = f"{prefix}{name}"
        if _ROUTING_PARAM.search(str(name)) and str(name) not in ("max_tokens", "top_k"):
            return path
        if isinstance(value, Mapping) and (found := _routing_param(value, f"{path}.")) is not None:
            return found
    return None
