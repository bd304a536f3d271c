from __future__ import annotations

import msgspec
import pytest

from echo_orchestrator.registry import tool


class Point(msgspec.Struct):
    x: int
    y: int


@tool
def distance(a: Point, b: Point, scale: float = 1.0) -> float:
    """Manhattan distance between two points.

    More text that is not part of the description.
    """
    return (abs(a.x - b.x) + abs(a.y - b.y)) * scale


def test_schema_from_signature_is_self_contained() -> None:
    assert distance.name == "distance"
    assert distance.description == "Manhattan distance between two points."
    schema = distance.input_schema
    assert schema["required"] == ["a", "b"]
    assert schema["properties"]["a"]["properties"]["x"] == {"type": "integer"}
    assert "$defs" not in schema and "$ref" not in str(schema)
    assert schema["properties"]["scale"] == {"type": "number", "default": 1.0}
    assert distance.output_schema == {"type": "number"}


def test_arguments_are_converted_and_checked() -> None:
    assert distance.call({"a": {"x": 0, "y": 0}, "b": {"x": 3, "y": 4}}) == 7.0
    with pytest.raises(msgspec.ValidationError, match=r"\$.b.y"):
        distance.parse_arguments({"a": {"x": 0, "y": 0}, "b": {"x": 3, "y": "four"}})
    with pytest.raises(msgspec.ValidationError, match="unknown field `c`"):
        distance.parse_arguments({"a": {"x": 0, "y": 0}, "b": {"x": 0, "y": 0}, "c": 1})


def test_variadic_functions_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot be described"):
        tool(lambda *args: None)


def test_named_tool_and_async_detection() -> None:
    @tool(name="ping_it", description="Answers pong.")
    async def ping() -> str:
        return "pong"

    assert (ping.name, ping.description, ping.is_async) == ("ping_it", "Answers pong.", True)
