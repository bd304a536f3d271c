"""Checking input against a JSON Schema (a tool's, a workflow's input fields), with errors
per field.

`pattern` and `patternProperties` are matched with RE2, a linear-time engine: a schema that
arrives from a caller (a workflow's `validation`) or from a third-party MCP server cannot
make a match take exponential time (`^(a+)+$` against `aaaa…!`). RE2 has no lookaround and
no back-references: such a pattern is refused when a workflow is saved
(`pattern_problems`), and a tool's schema that holds one is not matched here (the tool
judges its own input).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError

MAX_PATTERN_CHARS = 1000


@lru_cache(maxsize=512)
def compiled(pattern: str) -> Any:
    """The pattern compiled by RE2 (cached); raises ValueError saying why it cannot be."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"longer than {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.log_errors = False  # our caller reports it; RE2 would print to stderr
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"{reason} (patterns run on a linear-time engine: no lookaround, no back-references)") from None


def _usable(pattern: Any) -> Any | None:
    if not isinstance(pattern, str):
        return None
    try:
        return compiled(pattern)
    except ValueError:
        return None  # not ours to match: the schema's owner judges


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string") or (matcher := _usable(pattern)) is None:
        return
    if matcher.search(instance) is None:
        shown = instance if len(instance) <= 80 else instance[:80] + "…"
        yield ValidationError(f"{shown!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object") or not isinstance(patterns, Mapping):
        return
    for pattern, subschema in patterns.items():
        if (matcher := _usable(pattern)) is None:
            continue
        for key, value in instance.items():
            if matcher.search(key) is not None:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


# Draft 2020-12, with RE2 for the two keywords that run regular expressions on input.
# (`extend` is untyped in some releases of the stubs: called through a typed name.)
_extend: Callable[..., Any] = validators.extend
LinearValidator: Any = _extend(Draft202012Validator, {"pattern": _pattern, "patternProperties": _pattern_properties})


def pattern_problems(schema: Any, where: str = "") -> list[str]:
    """Every `pattern` and `patternProperties` key in `schema` (at any depth) that RE2
    cannot run, as "<path>: <why>"."""
    problems: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                here = f"{path}.{key}" if path else str(key)
                if key == "pattern" and isinstance(value, str):
                    problems.extend(_problem(value, here))
                elif key == "patternProperties" and isinstance(value, Mapping):
                    for pattern in value:
                        problems.extend(_problem(str(pattern), f"{here}[{pattern!r}]"))
                walk(value, here)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")

    walk(schema, where)
    return problems


def _problem(pattern: str, where: str) -> list[str]:
    try:
        compiled(pattern)
    except ValueError as exc:
        return [f"{where}: pattern {pattern[:80]!r} cannot be used: {exc}"]
    return []


def schema_problems(schema: Mapping[str, Any], where: str = "") -> list[str]:
    """Why `schema` cannot check input here: not valid JSON Schema, or a pattern RE2 cannot run."""
    try:
        Draft202012Validator.check_schema(dict(schema))
    except SchemaError as exc:
        path = ".".join(str(p) for p in exc.absolute_path)
        return [f"{where}{'.' + path if path else ''}: not a valid JSON Schema: {exc.message[:200]}"]
    return pattern_problems(schema, where)


def input_errors(schema: Mapping[str, Any], value: Any) -> list[dict[str, str]]:
    """[{field, message}] for every violation; [] when valid (or when the schema itself is broken)."""
    try:
        validator = LinearValidator(dict(schema))
        found = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    except SchemaError:
        return []  # the server's schema is broken: let the server judge the input
    out: list[dict[str, str]] = []
    for error in found:
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required" and "'" in error.message:
            missing = error.message.split("'")[1]
            out.append({"field": f"{path}.{missing}" if path else missing, "message": "Required field is missing"})
        elif error.validator == "additionalProperties" and "'" in error.message:
            for extra in error.message.split("'")[1::2]:
                out.append({"field": f"{path}.{extra}" if path else extra, "message": "Unexpected field"})
        else:
            out.append({"field": path or "(input)", "message": error.message})
    return out
