"""The one way a path a caller names reaches the filesystem.

`resolve_inside` is used by every workspace route and every file tool: the text is checked
(a plain relative path of ordinary names), joined to the root, resolved (symbolic links
followed), and the result must still be inside the root. Anything else is refused with an
error that names the field, never with the server's own paths.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from pathlib import Path

from echo_orchestrator.errors import NotFound, PathOutside, UnsafePath

MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255

# Characters that look like a separator or a dot but are not one; a client or a later
# normalisation step could turn them into the real thing. (Most also change under NFKC,
# which is checked too; these are the ones that do not.)
_LOOKALIKES = frozenset("\u2215\u2044\u29f5\u29f8\u29f9\u2216\u2024\u2025\u2026\u00b7\u02d9\u3002\uff61\u0338")
# A percent-encoded byte left after the framework's one decoding: double encoding.
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Unicode categories never allowed: controls (NUL included), format characters (bidi
# overrides, zero-width joiners), surrogates, private use, unassigned.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def _refuse(field: str, problem: str) -> UnsafePath:
    return UnsafePath.at(field, problem, f"{field}: {problem}")


def path_parts(text: str, *, field: str) -> tuple[str, ...]:
    """The components of a relative path, or UnsafePath saying why it is not one.
    "" and "." name the root itself (no components)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise _refuse(field, f"longer than {MAX_PATH_BYTES} bytes")
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in text):
        raise _refuse(field, "contains a control or invisible character")
    if "\\" in text:
        raise _refuse(field, "contains a backslash; use / between folders")
    if _ENCODED.search(text):
        raise _refuse(field, "contains a percent-encoded character (encoded twice?)")
    if unicodedata.normalize("NFKC", text) != text or any(ch in _LOOKALIKES for ch in text):
        raise _refuse(field, "contains a character that imitates another (use plain characters)")
    if text.startswith(("/", "~")) or _DRIVE.match(text):
        raise _refuse(field, "must be relative to the workspace")
    parts = tuple(part for part in text.split("/") if part not in ("", "."))
    for part in parts:
        if part.strip(". ") == "":
            raise _refuse(field, "must not contain '..' or names made only of dots")
        if part != part.strip():
            raise _refuse(field, "a name must not start or end with a space")
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise _refuse(field, f"a name is longer than {MAX_NAME_BYTES} bytes")
    return parts


def resolve_inside(root: Path, text: str, *, field: str, below: bool = False) -> Path:
    """`text` under `root`, resolved; PathOutside (403) when that leaves `root`.
    `root` must exist; the path itself need not. With `below`, `text` must name something
    inside `root`, not `root` itself (a file, a folder to make)."""
    parts = path_parts(text, field=field)
    if below and not parts:
        raise _refuse(field, "names the root itself, not something inside it")
    base = root.resolve(strict=True)
    try:
        resolved = base.joinpath(*parts).resolve()
    except (OSError, RuntimeError):  # a loop of symbolic links
        raise UnsafePath.at(field, "leads through a loop of links", f"{field}: leads through a loop of links") from None
    if not resolved.is_relative_to(base):
        raise PathOutside.at(field, "leads outside the workspace", f"{field}: leads outside the workspace")
    return resolved


def open_regular(path: Path, *, field: str) -> int:
    """A read-only descriptor of the regular file at `path` (already resolved). O_NOFOLLOW
    refuses a symbolic link put in its place after it was resolved."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise NotFound.at(field, "no such file", f"{field}: no such file") from None
    except OSError as exc:  # ELOOP: a link appeared; EISDIR and others: not a readable file
        raise UnsafePath.at(field, "is not a readable file", f"{field}: is not a readable file ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath.at(field, "is not a file", f"{field}: is not a file")
    return fd
