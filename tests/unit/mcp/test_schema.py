"""JSON Schema checks with RE2: `pattern` and `patternProperties` in linear time, and the
patterns RE2 cannot run named when a workflow is saved."""

from __future__ import annotations

import time

from echo_orchestrator.mcp.schema import input_errors, pattern_problems, schema_problems


def test_a_catastrophic_pattern_is_matched_in_linear_time() -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    started = time.perf_counter()
    errors = input_errors(schema, {"code": "a" * 50_000 + "!"})
    assert time.perf_counter() - started < 0.5  # Python's re would take longer than the age of the universe
    assert errors[0]["field"] == "code" and "does not match" in errors[0]["message"]
    assert input_errors(schema, {"code": "aaaa"}) == []


def test_pattern_properties_use_the_same_engine() -> None:
    schema = {"type": "object", "patternProperties": {"^x_": {"type": "integer"}}}
    assert input_errors(schema, {"x_a": 1, "y": "anything"}) == []
    assert input_errors(schema, {"x_a": "no"})[0]["field"] == "x_a"


def test_patterns_re2_cannot_run_are_named_by_their_place() -> None:
    schema = {"type": "object", "properties": {"a": {"pattern": "(?=x)"}, "b": {"items": {"pattern": r"(a)\1"}}}}
    problems = pattern_problems(schema, "validation")
    assert [p.split(":")[0] for p in problems] == ["validation.properties.a.pattern", "validation.properties.b.items.pattern"]
    assert "lookaround" in problems[0]
    assert schema_problems({"type": "strng"}, "v") == [
        "v.type: not a valid JSON Schema: 'strng' is not valid under any of the given schemas"
    ]
    # a tool's schema with one is not matched here (the tool judges its own input)
    assert input_errors({"type": "object", "properties": {"a": {"type": "string", "pattern": "(?=x)"}}}, {"a": "y"}) == []
