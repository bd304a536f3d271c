"""References to the server's environment in settings files: `${VAR}` and `${VAR:-default}`.

The form MCP clients' files use (Claude Code's `${VAR}` and `${VAR:-default}`, VS Code's
`${env:VAR}`), so a token is kept where the server runs and never written in `storage/`,
which users keep under git. A reference is resolved when it is used (an MCP server
started), never when the file is saved: the file keeps the reference.

`${VAR:-default}` uses the default when VAR is unset or empty, as the shell does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from echo_orchestrator.errors import UnsetVariable

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# `${`, an optional `env:`, a name, an optional `:-default` (anything but `}`), `}`.
REFERENCE = re.compile(r"\$\{(?:env:)?(" + NAME + r")(?::-([^}]*))?\}")
_OPENING = "${"


def references_in(text: str) -> list[str]:
    """The variable names `text` refers to, in order."""
    return [match.group(1) for match in REFERENCE.finditer(text)]


def reference_problem(text: str) -> str | None:
    """Why `text` holds a `${` that is not a reference, or None."""
    rest = REFERENCE.sub("", text)
    if _OPENING not in rest:
        return None
    start = rest.index(_OPENING)
    fragment = rest[start : start + 40]
    return f"{fragment!r} is not a reference: write ${{NAME}} or ${{NAME:-default}}, NAME of letters, digits and _"


def expand(text: str, environ: Mapping[str, str], where: str) -> str:
    """`text` with every reference replaced by its variable's value (or its default).
    `where` names the setting, for the error when a variable is unset and has no default."""
    if _OPENING not in text:
        return text

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = environ.get(name)
        if found:
            return found
        if default is not None:
            return default
        if found is not None:  # set but empty: that is its value
            return found
        raise UnsetVariable(
            f"environment variable {name} is not set ({where} refers to it): set it where the service runs, "
            f"or give a default with ${{{name}:-value}}",
            details={"variable": name, "setting": where},
        )

    return REFERENCE.sub(value, text)
