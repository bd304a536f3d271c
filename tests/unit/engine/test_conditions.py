from __future__ import annotations

import pytest

from echo_orchestrator.engine.conditions import evaluate, parse_condition
from echo_orchestrator.errors import Invalid

STATE = {"score": 0.9, "status": "approved", "items": [1, 2, 3], "result": {"valid": True}, "note": "Has ERROR"}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("score > 0.8 and status == 'approved'", True),
        ("score > 0.95 or len(items) >= 3", True),
        ("not result['valid']", False),
        ("'error' in lower(note)", True),
        ("missing_key is None", True),
        ("missing_key > 3", False),  # None > 3 fails at run time: the condition does not hold
        ("0.5 < score <= 1", True),
        ("items[0] + items[2] == 4", True),
    ],
)
def test_conditions(condition: str, expected: bool) -> None:
    assert evaluate(condition, STATE) is expected


@pytest.mark.parametrize(
    "condition",
    ["__import__('os').system('x')", "score.__class__", "open('f')", "lambda: 1", "[x for x in items]", "score >"],
)
def test_unsafe_or_broken_conditions_are_refused(condition: str) -> None:
    with pytest.raises(Invalid):
        parse_condition(condition)
