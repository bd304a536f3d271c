"""Checking tool input against a tool's JSON Schema, with errors per field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError


def input_errors(schema: Mapping[str, Any], value: Any) -> list[dict[str, str]]:
    """[{field, message}] for every violation; [] when valid (or when the schema itself is broken)."""
    try:
        validator = Draft202012Validator(dict(schema))
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
