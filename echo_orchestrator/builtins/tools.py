"""Built-in tools: small, offline and exact, so agents have something real to call."""

from __future__ import annotations

import ast
import operator
import re
from typing import Any

import msgspec

from echo_orchestrator.registry.spec import tool


class TextStats(msgspec.Struct):
    characters: int
    words: int
    lines: int
    sentences: int


@tool
def text_stats(text: str) -> TextStats:
    """Count the characters, words, lines and sentences of a text."""
    return TextStats(
        characters=len(text),
        words=len(text.split()),
        lines=len(text.splitlines()) if text else 0,
        sentences=len([s for s in re.split(r"[.!?]+", text) if s.strip()]),
    )


_OPERATORS: dict[type[ast.AST], Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ValueError("exponent too large")
        return float(_OPERATORS[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return float(_OPERATORS[type(node.op)](_evaluate(node.operand)))
    raise ValueError(f"unsupported expression: {ast.dump(node)[:60]}")


class Calculation(msgspec.Struct):
    expression: str
    result: float


@tool
def calculator(expression: str) -> Calculation:
    """Evaluate an arithmetic expression (+ - * / // % ** and parentheses) exactly, without eval()."""
    if len(expression) > 500:
        raise ValueError("expression longer than 500 characters")
    return Calculation(expression=expression, result=_evaluate(ast.parse(expression, mode="eval")))
