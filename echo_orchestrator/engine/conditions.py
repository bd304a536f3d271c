"""Connection conditions: small, safe expressions over the workflow state.

    score > 0.8 and status == 'approved'
    'error' not in review or len(items) >= 3
    result['valid']

Names are state keys (a missing key is None). Allowed: literals, comparisons, `and`/`or`/
`not`, `in`, subscripts, arithmetic, and the functions len, str, int, float, bool, lower,
upper. Nothing else: no attribute access, no calls of anything else, no eval().

Bounded: a condition is at most 1,000 characters and 200 syntax nodes; every string or list
it builds (`'x' * n`, `a + b`, `str(x)`) is at most 100,000 long; numbers stay under 10**100;
`%` is arithmetic only (no string formatting); evaluation takes at most 10,000 steps. A
condition that breaks a bound with constants alone fails validation (422); one that breaks
it on a run's state fails that run with the reason, and never grows the server's memory.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from echo_orchestrator.errors import ConditionLimit, Invalid

MAX_CHARS = 1000
MAX_NODES = 200
MAX_SIZE = 100_000
MAX_NUMBER = 10**100
MAX_STEPS = 10_000


def _sized(value: Any) -> Any:
    if isinstance(value, str | list | tuple | bytes) and len(value) > MAX_SIZE:
        raise ConditionLimit(f"Condition builds a value of {len(value):,} items; at most {MAX_SIZE:,} are allowed")
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        raise ConditionLimit("Condition builds a number beyond 10**100")
    return value


def _times(a: Any, b: Any) -> Any:
    """`*`, refusing a repeated sequence before it is built."""
    for seq, count in ((a, b), (b, a)):
        repeats = isinstance(seq, str | list | tuple) and isinstance(count, int) and not isinstance(count, bool)
        if repeats and len(seq) * max(count, 0) > MAX_SIZE:
            raise ConditionLimit(f"Condition repeats a value to {len(seq) * count:,} items; at most {MAX_SIZE:,} are allowed")
    # Compare magnitudes in logarithm-free form: digits add under multiplication.
    numbers = isinstance(a, int | float) and isinstance(b, int | float) and a and b
    if numbers and len(str(int(abs(a)))) + len(str(int(abs(b)))) > 102:
        raise ConditionLimit("Condition builds a number beyond 10**100")
    return operator.mul(a, b)


def _modulo(a: Any, b: Any) -> Any:
    if not (isinstance(a, int | float) and isinstance(b, int | float)):
        raise ConditionLimit("`%` in a condition is arithmetic only, not string formatting")
    return operator.mod(a, b)


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
    ast.Mult: _times,
    ast.Div: operator.truediv,
    ast.Mod: _modulo,
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
    nodes = list(ast.walk(node))
    if len(nodes) > MAX_NODES:
        raise ConditionLimit(f"Condition has {len(nodes)} syntax nodes; at most {MAX_NODES} are allowed")
    allowed = (
        ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare,
        ast.Name, ast.Load, ast.Constant, ast.Subscript, ast.BinOp, ast.List, ast.Tuple, ast.Call,
        *_COMPARE, *_ARITHMETIC,
    )  # fmt: skip
    for child in nodes:
        if not isinstance(child, allowed):
            raise Invalid(f"Condition uses {type(child).__name__}, which is not allowed")
        if isinstance(child, ast.Call) and not (isinstance(child.func, ast.Name) and child.func.id in _FUNCTIONS):
            raise Invalid(f"Condition calls a function other than {', '.join(sorted(_FUNCTIONS))}")


@lru_cache(maxsize=1024)
def parse_condition(text: str) -> ast.Expression:
    """Parse and check a condition (raises Invalid with the reason). It is also evaluated
    once on an empty state, so a bound broken by its constants alone is caught here."""
    if len(text) > MAX_CHARS:
        raise ConditionLimit(f"Condition is {len(text):,} characters long; at most {MAX_CHARS:,} are allowed")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise Invalid(f"Condition {text[:80]!r} is not a valid expression: {getattr(exc, 'msg', exc)}") from None
    _check(tree)
    try:
        _eval(tree, {}, [MAX_STEPS])
    except ConditionLimit:
        raise
    except Exception:
        pass
    return tree


def _eval(node: ast.AST, state: Mapping[str, Any], budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise ConditionLimit(f"Condition takes more than {MAX_STEPS:,} steps to evaluate")

    def ev(child: ast.AST) -> Any:
        return _eval(child, state, budget)

    match node:
        case ast.Expression(body=body):
            return ev(body)
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            return {"True": True, "False": False, "None": None}.get(name, state.get(name))
        case ast.BoolOp(op=ast.And(), values=values):
            return all(ev(v) for v in values)
        case ast.BoolOp(op=ast.Or(), values=values):
            return any(ev(v) for v in values)
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not ev(operand)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -ev(operand)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = ev(left)
            for op, right_node in zip(ops, comparators, strict=True):
                right = ev(right_node)
                if not _COMPARE[type(op)](current, right):
                    return False
                current = right
            return True
        case ast.BinOp(left=left, op=op, right=right):
            return _sized(_ARITHMETIC[type(op)](ev(left), ev(right)))  # what it builds is bounded
        case ast.Subscript(value=value, slice=index):
            container = ev(value)
            return None if container is None else container[ev(index)]
        case ast.List(elts=items) | ast.Tuple(elts=items):
            return [ev(i) for i in items]
        case ast.Call(func=ast.Name(id=name), args=args):
            return _sized(_FUNCTIONS[name](*(ev(a) for a in args)))
    raise Invalid(f"Unsupported condition element {type(node).__name__}")  # pragma: no cover - _check refuses it


def evaluate(text: str, state: Mapping[str, Any]) -> bool:
    """True if the condition holds; an expression that fails at run time (a missing key
    compared with a number, say) does not hold."""
    tree = parse_condition(text)
    try:
        return bool(_eval(tree, state, [MAX_STEPS]))
    except ConditionLimit:
        raise  # the run fails with the reason: a bound broken is not "the condition is false"
    except (TypeError, KeyError, IndexError, ValueError, ZeroDivisionError, OverflowError):
        return False
