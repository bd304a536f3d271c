"""Connection conditions: small, safe expressions over the workflow state.

    score > 0.8 and status == 'approved'
    'error' not in review or len(items) >= 3
    result['valid']

Names are state keys (a missing key is None). Allowed: literals, comparisons, `and`/`or`/
`not`, `in`, subscripts, arithmetic, and the functions len, str, int, float, bool, lower,
upper. Nothing else: no attribute access, no calls of anything else, no eval().
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from echo_orchestrator.errors import Invalid

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "len": len,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
}


def _check(node: ast.AST) -> None:
    allowed = (
        ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare,
        ast.Name, ast.Load, ast.Constant, ast.Subscript, ast.BinOp, ast.List, ast.Tuple, ast.Call,
        *_COMPARE, *_ARITHMETIC,
    )  # fmt: skip
    for child in ast.walk(node):
        if not isinstance(child, allowed):
            raise Invalid(f"Condition uses {type(child).__name__}, which is not allowed")
        if isinstance(child, ast.Call) and not (isinstance(child.func, ast.Name) and child.func.id in _FUNCTIONS):
            raise Invalid(f"Condition calls a function other than {', '.join(sorted(_FUNCTIONS))}")


@lru_cache(maxsize=1024)
def parse_condition(text: str) -> ast.Expression:
    """Parse and check a condition (raises Invalid with the reason)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise Invalid(f"Condition {text!r} is not a valid expression: {exc.msg}") from None
    _check(tree)
    return tree


def _eval(node: ast.AST, state: Mapping[str, Any]) -> Any:
    match node:
        case ast.Expression(body=body):
            return _eval(body, state)
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            return {"True": True, "False": False, "None": None}.get(name, state.get(name))
        case ast.BoolOp(op=ast.And(), values=values):
            return all(_eval(v, state) for v in values)
        case ast.BoolOp(op=ast.Or(), values=values):
            return any(_eval(v, state) for v in values)
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _eval(operand, state)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -_eval(operand, state)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = _eval(left, state)
            for op, right_node in zip(ops, comparators, strict=True):
                right = _eval(right_node, state)
                if not _COMPARE[type(op)](current, right):
                    return False
                current = right
            return True
        case ast.BinOp(left=left, op=op, right=right):
            return _ARITHMETIC[type(op)](_eval(left, state), _eval(right, state))
        case ast.Subscript(value=value, slice=index):
            container = _eval(value, state)
            return None if container is None else container[_eval(index, state)]
        case ast.List(elts=items) | ast.Tuple(elts=items):
            return [_eval(i, state) for i in items]
        case ast.Call(func=ast.Name(id=name), args=args):
            return _FUNCTIONS[name](*(_eval(a, state) for a in args))
    raise Invalid(f"Unsupported condition element {type(node).__name__}")  # pragma: no cover - _check refuses it


def evaluate(text: str, state: Mapping[str, Any]) -> bool:
    """True if the condition holds; an expression that fails at run time (a missing key
    compared with a number, say) does not hold."""
    tree = parse_condition(text)
    try:
        return bool(_eval(tree, state))
    except (TypeError, KeyError, IndexError, ValueError, ZeroDivisionError):
        return False
