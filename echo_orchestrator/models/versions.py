"""Workflow versions compare as dotted integers: "1.9" < "1.10" < "2.0"."""

from __future__ import annotations

import re

from echo_orchestrator.errors import Invalid
from echo_orchestrator.models.base import VERSION_PATTERN

_VERSION = re.compile(VERSION_PATTERN)


def is_version(text: str) -> bool:
    return _VERSION.match(text) is not None


def version_key(version: str) -> tuple[int, ...]:
    if not is_version(version):
        raise Invalid(
            f"Malformed version {version!r}: expected dotted integers such as '1.0' or '2.1.3'",
            details={"field": "version", "value": version},
        )
    parts = tuple(int(p) for p in version.split("."))
    # "1" and "1.0" are the same version: compare without trailing zeros.
    while len(parts) > 1 and parts[-1] == 0:
        parts = parts[:-1]
    return parts


def canonical_version(version: str) -> str:
    """The one spelling of a version, used in file names: at least two parts, no trailing
    zeros past them ("2" -> "2.0", "2.0.0" -> "2.0", "1.10" and "1.2.3" stay)."""
    parts = list(version_key(version))
    if len(parts) < 2:
        parts.append(0)
    return ".".join(str(p) for p in parts)


def sort_versions(versions: list[str]) -> list[str]:
    return sorted(versions, key=version_key)


def next_version(existing: list[str], preferred: str | None = None) -> str:
    """`preferred` (canonical) while it is above every existing version; else the version
    after the highest existing one: a minor bump ("1.9" -> "1.10"), "1.0" first."""
    if preferred is not None and all(version_key(preferred) > version_key(v) for v in existing):
        return canonical_version(preferred)
    if not existing:
        return "1.0"
    highest = canonical_version(max(existing, key=version_key)).split(".")
    if len(highest) == 1:
        return f"{highest[0]}.1"
    highest[-1] = str(int(highest[-1]) + 1)
    return ".".join(highest)
