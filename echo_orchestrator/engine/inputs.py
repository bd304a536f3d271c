"""A workflow's `input_fields` as one JSON Schema, and inputs checked against it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from echo_orchestrator.errors import Invalid
from echo_orchestrator.mcp.schema import input_errors
from echo_orchestrator.models import InputField


def input_schema(fields: Iterable[InputField]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in fields:
        prop: dict[str, Any] = {"type": field.type, **(field.validation or {})}
        if field.description:
            prop["description"] = field.description
        if field.default is not None:
            prop["default"] = field.default
        properties[field.name] = prop
        if field.required:
            required.append(field.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def apply_defaults(fields: Iterable[InputField], inputs: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(inputs)
    for field in fields:
        if field.name not in out and field.default is not None:
            out[field.name] = field.default
    return out


def check_inputs(schema: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """Raise Invalid (422) listing every field of `inputs` that violates `schema`."""
    problems = input_errors(schema, dict(inputs))
    if problems:
        raise Invalid("Invalid input: " + "; ".join(f"{p['field']}: {p['message']}" for p in problems), details={"errors": problems})
