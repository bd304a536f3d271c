from __future__ import annotations

import msgspec

from echo_orchestrator.models import Agent, Workflow
from echo_orchestrator.store.definitions import codec
from tests.factories import agent, workflow


def test_same_content_gives_same_bytes_whatever_the_dict_order() -> None:
    a = agent(metadata={"b": 1, "a": {"y": 2, "x": 1}})
    b = agent(metadata={"a": {"x": 1, "y": 2}, "b": 1})
    assert codec.encode(a) == codec.encode(b)


def test_layout_of_the_bytes() -> None:
    data = codec.encode(agent(description="Análisis — ok"))
    text = data.decode("utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert '\n  "agent_id": "agt_1",\n' in text  # 2-space indent, fields in declaration order
    assert "Análisis — ok" in text  # UTF-8, no \u escapes
    assert list(msgspec.json.decode(data)) == list(Agent.__struct_fields__)


def test_round_trip_keeps_connections_from_key() -> None:
    data = codec.encode(workflow())
    assert b'"from": "agt_1"' in data
    assert codec.decode(data, Workflow) == workflow()


def test_split_error_names_the_field() -> None:
    try:
        codec.decode(b'{"workflow_id": "wf", "connections": [{"from": 1, "to": "b"}]}', Workflow)
    except msgspec.ValidationError as exc:
        assert codec.split_error(exc) == ("connections[0].from", "Expected `str`, got `int`")
    else:  # pragma: no cover
        raise AssertionError("decode should fail")
