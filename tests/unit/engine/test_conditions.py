from __future__ import annotations

import time
from typing import Any

import pytest

from echo_orchestrator.engine.conditions import evaluate, parse_condition, text_length, weight
from echo_orchestrator.errors import ConditionLimit, Invalid

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


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ("[['a'*100000]*3000]*3000 == [['a'*100000]*3000]*3000", "weighing more than"),  # n² hidden in 56 characters
        ("str(['a'*1000]*90) == ''", "into text of more than"),  # refused before the text is built
        ("str(['a'*100000]*4000) == ''", "weighing more than"),
        ("len([[1]*1000]*1000 + [1]) > 0", "weighing more than"),
    ],
)
def test_work_is_bounded_before_it_is_done(condition: str, reason: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ConditionLimit, match=reason):
        parse_condition(condition)
    assert time.perf_counter() - started < 0.5


def test_heavy_state_is_refused_and_light_state_is_fine() -> None:
    heavy = [[0] * 1000] * 600  # 600 references to one list: walked 600 times by ==
    with pytest.raises(ConditionLimit, match="weighing more than"):
        evaluate("data == data", {"data": heavy})
    assert evaluate("len(data) == 600", {"data": heavy})
    assert evaluate("'x' in words", {"words": ["a"] * 10_000 + ["x"]})
    assert evaluate("doc == doc", {"doc": "y" * 5_000_000})  # long text compares cheaply


def test_weight_counts_shared_parts_every_time_and_measures_fast() -> None:
    inner = ["a" * 640] * 10
    assert weight(inner) == 1 + 10 + 100  # 10 strings of 10 units each, at C speed
    assert weight([inner, inner]) == 1 + 2 * weight(inner)
    assert weight({"k": [1, 2]}) > 3
    assert text_length(["ab", 1]) >= len(str(["ab", 1]))
    big = [0] * 100_000
    started = time.perf_counter()
    assert weight(big) == 100_001
    assert time.perf_counter() - started < 0.05


def test_running_out_of_memory_or_recursion_is_a_refusal_not_true() -> None:
    nested: list[Any] = []
    for _ in range(200):
        nested = [nested]
    with pytest.raises(ConditionLimit, match="nested deeper"):
        evaluate("x == x", {"x": nested})
