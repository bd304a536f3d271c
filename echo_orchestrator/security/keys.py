"""API keys: from `ECHO_API_KEYS` and a keys file, compared in constant time.

An entry is `<key> [id=<name>] [read-only]`; instead of the key it may hold `sha256:<hex>`,
the key's SHA-256, so a keys file need not contain a single secret. Only digests are kept
in memory after loading; a key's id (its name, or `key_` and 8 hex digits of its digest)
is what logs and execution records show.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from echo_orchestrator.errors import ConfigurationError

KEY_PREFIX = "eo_"
_HASHED = re.compile(r"^sha256:(?P<hex>[0-9a-fA-F]{64})$")
KEY_ID = re.compile(r"[A-Za-z0-9._@-]{1,64}")


@dataclass(frozen=True, slots=True)
class KeyEntry:
    key_id: str
    digest: bytes
    read_only: bool


def digest_of(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def default_id(digest: bytes) -> str:
    return f"key_{digest.hex()[:8]}"


def parse_entry(text: str, where: str) -> KeyEntry | None:
    """One entry (a line of the file, or an item of ECHO_API_KEYS); None for a blank or a comment."""
    words = text.split()
    if not words or words[0].startswith("#"):
        return None
    secret, options = words[0], words[1:]
    hashed = _HASHED.match(secret)
    digest = bytes.fromhex(hashed["hex"]) if hashed else digest_of(secret)
    if not hashed and len(secret) < 16:
        raise ConfigurationError(f"{where}: an API key must be at least 16 characters")
    key_id, read_only = default_id(digest), False
    for option in options:
        if option == "read-only":
            read_only = True
        elif option.startswith("id=") and KEY_ID.fullmatch(option[3:]):
            key_id = option[3:]
        else:
            raise ConfigurationError(f"{where}: unknown option {option!r} (use id=<name> or read-only)")
    return KeyEntry(key_id, digest, read_only)


class KeyRing:
    def __init__(self, entries: Iterable[KeyEntry]) -> None:
        self._entries = tuple(entries)

    @classmethod
    def load(cls, keys: str, keys_file: Path | None) -> KeyRing:
        entries: list[KeyEntry] = []
        for n, item in enumerate(keys.split(","), 1):
            if (entry := parse_entry(item, f"ECHO_API_KEYS item {n}")) is not None:
                entries.append(entry)
        if keys_file is not None:
            try:
                lines = keys_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigurationError(f"Cannot read the API keys file: {exc.strerror or exc}") from None
            for n, line in enumerate(lines, 1):
                if (entry := parse_entry(line, f"API keys file line {n}")) is not None:
                    entries.append(entry)
        return cls(entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def match(self, presented: str) -> KeyEntry | None:
        """The entry for a presented key. Every entry is compared, so the time taken says
        nothing about which entry (or which prefix) came close."""
        digest = digest_of(presented)
        found: KeyEntry | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, digest):
                found = entry
        return found


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def stored_line(key: str, *, key_id: str | None = None, read_only: bool = False) -> str:
    """The keys-file line for a key: its hash, never the key itself."""
    parts = [f"sha256:{digest_of(key).hex()}"]
    if key_id:
        parts.append(f"id={key_id}")
    if read_only:
        parts.append("read-only")
    return " ".join(parts)
