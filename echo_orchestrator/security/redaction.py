"""Secrets never come back: every secret value the server knows, scrubbed from outside text.

Outside text (a tool's or MCP server's stderr, a provider's error, an exception message)
may quote a secret: a server that prints its `env`, a URL with credentials in a traceback.
`SECRETS` holds every value the server knows to be secret, by source, and `scrub` replaces
each occurrence. Sources: the environment (every variable whose name says KEY, TOKEN,
SECRET or PASSWORD), the MCP settings (`env`, `headers`, URL credentials and secret args),
the service's own keys. It also turns the server's absolute paths into the configured ones.

Masking (`mask_url`, `mask_args`) is for showing configuration: the shape stays, the values go.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from echo_orchestrator.models.references import NAME

MASK = "********"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.I)
# Flags whose value is a secret: --api-key=X, --token X, -p X is not guessed.
_SECRET_FLAG = re.compile(r"^--?[A-Za-z0-9_-]*(key|token|secret|password|passwd|pass|auth|credential)[A-Za-z0-9_-]*$", re.I)
# Shorter values are too likely to be ordinary words or numbers to be worth scrubbing.
MIN_SECRET_LENGTH = 6


class SecretRegistry:
    """Secret values by source; `scrub` uses one compiled pattern, rebuilt on change."""

    def __init__(self) -> None:
        self._sources: dict[str, frozenset[str]] = {}
        self._paths: dict[str, str] = {}
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self._replacements: dict[str, str] = {}

    def set_source(self, name: str, values: Iterable[str]) -> None:
        kept = frozenset(v for v in values if isinstance(v, str) and len(v.strip()) >= MIN_SECRET_LENGTH)
        with self._lock:
            if self._sources.get(name) != kept:
                self._sources[name] = kept
                self._pattern = None

    def set_path(self, absolute: str, shown: str) -> None:
        """Show `absolute` (a server path) as `shown` (as the operator configured it)."""
        if len(absolute) < 2 or absolute == shown:
            return
        with self._lock:
            if self._paths.get(absolute) != shown:
                self._paths[absolute] = shown
                self._pattern = None

    def values(self) -> frozenset[str]:
        with self._lock:
            return frozenset().union(*self._sources.values()) if self._sources else frozenset()

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None:
                replacements = {v: MASK for values in self._sources.values() for v in values}
                replacements.update(self._paths)
                self._replacements = replacements
                if replacements:
                    # Longest first: a secret that contains another is replaced whole.
                    alternatives = sorted(replacements, key=len, reverse=True)
                    self._pattern = re.compile("|".join(re.escape(a) for a in alternatives))
                else:
                    self._pattern = re.compile(r"(?!)")
            return self._pattern

    def scrub(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        replacements = self._replacements
        return pattern.sub(lambda m: replacements.get(m.group(0), MASK), text)

    def scrub_data(self, value: Any) -> Any:
        """Strings scrubbed anywhere inside dicts and lists (keys too)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {self.scrub(str(k)): self.scrub_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub_data(v) for v in value]
        return value


SECRETS = SecretRegistry()


def scrub(text: str) -> str:
    return SECRETS.scrub(text)


def api_key_env(env: Mapping[str, str]) -> str | None:
    """The name of the variable that carries a server's key (the first secret-named one)."""
    return next((name for name in sorted(env) if _SECRET_NAME.search(name)), None)


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    return [value for name, value in env.items() if _SECRET_NAME.search(name)]


# A value that only refers to variables (with an auth scheme before it, at most) holds no
# secret: shown as written, so an operator sees where the value comes from.
_REFERENCES_ONLY = re.compile(r"(?:(?:Bearer|Basic|Token|token|Bot)\s+)?(?:\$\{(?:env:)?" + NAME + r"\})+")


def mask_value(value: str) -> str:
    """A setting's value as shown: `${VAR}` references as written, anything else masked."""
    return value if _REFERENCES_ONLY.fullmatch(value) else MASK


def url_secrets(url: str) -> list[str]:
    """The credentials a URL carries: user-info and every query value."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [v for v in (parts.username, parts.password) if v]
    found += [v for _, v in parse_qsl(parts.query, keep_blank_values=False)]
    return found


def mask_url(url: str) -> str:
    """`https://user:pw@host/p?api_key=x&v=1` -> `https://********:********@host/p?api_key=********&v=********`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    if parts.username or parts.password:
        netloc = f"{MASK}:{MASK}@{netloc}" if parts.password else f"{MASK}@{netloc}"
    query = urlencode([(k, MASK) for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _looks_like_url(text: str) -> bool:
    return "://" in text


def arg_secrets(args: Iterable[str]) -> list[str]:
    """Values of secret-looking flags (`--api-key=X`, `--token X`) and URL credentials in args."""
    found: list[str] = []
    args = list(args)
    for i, arg in enumerate(args):
        flag, eq, value = arg.partition("=")
        if eq and _SECRET_FLAG.match(flag):
            found.append(value)
        elif _SECRET_FLAG.match(arg) and i + 1 < len(args):
            found.append(args[i + 1])
        if _looks_like_url(arg):
            found += url_secrets(value if eq else arg)
    return found


def mask_args(args: Iterable[str], registry: SecretRegistry = SECRETS) -> list[str]:
    out: list[str] = []
    after_flag = False
    for arg in args:
        flag, eq, value = arg.partition("=")
        if after_flag:
            out.append(MASK)
        elif eq and _SECRET_FLAG.match(flag):
            out.append(f"{flag}={MASK}")
        elif eq and _looks_like_url(value):
            out.append(f"{flag}={mask_url(value)}")
        elif _looks_like_url(arg):
            out.append(mask_url(arg))
        else:
            out.append(registry.scrub(arg))
        after_flag = not eq and bool(_SECRET_FLAG.match(arg))
    return out


class ScrubFilter(logging.Filter):
    """Scrubs a log record's message and traceback before any handler formats it."""

    def __init__(self, registry: SecretRegistry = SECRETS) -> None:
        super().__init__()
        self._registry = registry
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose args do not fit its format: leave it to logging
            return True
        scrubbed = self._registry.scrub(message)
        if scrubbed != message:
            self._scrub_parts(record, scrubbed)
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._registry.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self._registry.scrub(record.stack_info)
        return True

    def _scrub_parts(self, record: logging.LogRecord, scrubbed: str) -> None:
        """Scrub the format and each argument, keeping the args: some formatters read them
        (uvicorn's access formatter unpacks its five). If a secret spans the parts, the
        record becomes the scrubbed message alone."""
        scrub = self._registry.scrub
        args = record.args
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if isinstance(args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, dict):
            record.args = {k: scrub(v) if isinstance(v, str) else v for k, v in args.items()}
        try:
            if record.getMessage() == scrubbed:
                return
        except Exception:  # scrubbing broke the format: fall through
            pass
        record.msg, record.args = scrubbed, None


def install_log_filter(registry: SecretRegistry = SECRETS) -> None:
    """Scrub every handler's output: the root logger's and uvicorn's (which do not propagate)."""
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, ScrubFilter) for f in handler.filters):
                handler.addFilter(ScrubFilter(registry))
