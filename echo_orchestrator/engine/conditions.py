"""Connection conditions: small, safe expressions over the workflow state.

    score > 0.8 and status == 'approved'
    'error' not in review or len(items) >= 3
    result['valid']

Names are state keys (a missing key is None). Allowed: literals, comparisons, `and`/`or`/
`not`, `in`, subscripts, arithmetic, and the functions len, str, int, float, bool, lower,
upper. Nothing else: no attribute access, no calls of anything else, no eval().

Bounded in the work it does, not only in what it returns. A condition is at most 1,000
characters and 200 syntax nodes. Every value it builds, compares, searches or turns into
text has a *weight*: 1 per number, per container and per 64 characters of text, counting a
part shared several times (`[x] * 3000`) every time it appears, as a comparison walks it.
Nothing it builds weighs over 1,000,000 (a string is also at most 100,000 characters),
an operation whose operands weigh more is refused before it runs, `str(x)` is refused when
its text would exceed 100,000 characters (estimated before it is built), numbers stay under
10**100, `%` is arithmetic only, and one evaluation takes at most 10,000 steps and
`DEADLINE_SECONDS` of wall clock. A condition that breaks a bound with constants alone
fails validation (422); one that breaks it on a run's state fails that run with the reason,
and never grows the server's memory. Running out of memory or recursion is such a failure,
never "the condition holds". The engine evaluates conditions in a worker thread, so even a
slow one never holds the event loop.
"""

from __future__ import annotations

import ast
import operator
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from echo_orchestrator.errors import ConditionLimit, Invalid

MAX_CHARS = 1000
MAX_NODES = 200
MAX_SIZE = 100_000  # characters of a string (or items of a sequence) a condition builds
MAX_WEIGHT = 1_000_000  # what a value a condition builds or works on may weigh (`weight`)
MAX_NUMBER = 10**100
MAX_STEPS = 10_000
MAX_DEPTH = 100  # nesting of the values it walks
DEADLINE_SECONDS = 1.0  # wall clock of one evaluation
TEXT_UNIT = 64  # characters that weigh 1: comparing text is a memory compare, cheap per character


def weight(value: Any, limit: int = MAX_WEIGHT) -> int:
    """What walking `value` costs: 1 per number or container, 1 + len // TEXT_UNIT per
    string, a shared part counted every time it appears (memoised, so aliasing costs
    nothing to measure). Stops early once past `limit` (the answer is then > limit)."""
    memo: dict[int, int] = {}

    def walk(item: Any, depth: int) -> int:
        if isinstance(item, str | bytes):
            return 1 + len(item) // TEXT_UNIT
        if not isinstance(item, list | tuple | dict | set | frozenset):
            return 1
        known = memo.get(id(item))
        if known is not None:
            return known
        if depth > MAX_DEPTH:
            raise ConditionLimit(f"Condition works on a value nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, list | tuple) and (flat := _flat_weight(item)) is not None:
            memo[id(item)] = flat
            return flat
        total = 1
        for part in item.items() if isinstance(item, dict) else item:
            total += walk(part, depth + 1)
            if total > limit:
                break
        memo[id(item)] = total
        return total

    return walk(value, 0)


_SCALARS = frozenset({int, float, bool, type(None)})


def _flat_weight(items: list[Any] | tuple[Any, ...]) -> int | None:
    """The weight of a list of scalars, or of strings, at C speed (`[1] * 100_000` is
    measured in a millisecond, not walked); None for anything else."""
    kinds = set(map(type, items))
    if kinds <= _SCALARS:
        return 1 + len(items)
    if kinds == {str}:
        # Each string weighs 1 + len // TEXT_UNIT; this bound is at most one more per string.
        return 1 + len(items) + sum(map(len, items)) // TEXT_UNIT
    return None


def text_length(value: Any, limit: int = MAX_SIZE) -> int:
    """An upper bound of `len(str(value))`, found without building the text (stops early
    once past `limit`)."""
    memo: dict[int, int] = {}

    def walk(item: Any, depth: int, quoted: bool) -> int:
        if isinstance(item, str):
            return 4 * len(item) + 2 if quoted else len(item)  # repr may escape a character as \x..
        if isinstance(item, bytes):
            return 4 * len(item) + 3
        if isinstance(item, bool) or item is None:
            return 5
        if isinstance(item, int):
            return 102  # numbers stay under 10**100
        if isinstance(item, float):
            return 25
        if not isinstance(item, list | tuple | dict | set | frozenset):
            return limit + 1  # anything else: not turned into text here
        known = memo.get(id(item))
        if known is not None:
            return known
        if depth > MAX_DEPTH:
            raise ConditionLimit(f"Condition works on a value nested deeper than {MAX_DEPTH} levels")
        total = 2
        for part in item.items() if isinstance(item, dict) else item:
            total += walk(part, depth + 1, True) + 2
            if total > limit:
                break
        memo[id(item)] = total
        return total

    return walk(value, 0, False)


def _sized(value: Any) -> Any:
    if isinstance(value, str | list | tuple | bytes) and len(value) > MAX_SIZE:
        raise ConditionLimit(f"Condition builds a value of {len(value):,} items; at most {MAX_SIZE:,} are allowed")
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        raise ConditionLimit("Condition builds a number beyond 10**100")
    return value


def _light(*operands: Any, what: str = "works on values") -> None:
    """Refuse an operation whose operands weigh more than a condition may work on."""
    total = 0
    for operand in operands:
        total += weight(operand, MAX_WEIGHT - total)
        if total > MAX_WEIGHT:
            raise ConditionLimit(f"Condition {what} weighing more than {MAX_WEIGHT:,} (nested values count every time they appear)")


def _times(a: Any, b: Any) -> Any:
    """`*`, refusing a repeated sequence before it is built."""
    for seq, count in ((a, b), (b, a)):
        repeats = isinstance(seq, str | list | tuple) and isinstance(count, int) and not isinstance(count, bool)
        if repeats and len(seq) * max(count, 0) > MAX_SIZE:
            raise ConditionLimit(f"Condition repeats a value to {len(seq) * count:,} items; at most {MAX_SIZE:,} are allowed")
        if repeats and isinstance(seq, list | tuple) and count > 0 and weight(seq, MAX_WEIGHT // count + 1) * count > MAX_WEIGHT:
            raise ConditionLimit(f"Condition builds a value weighing more than {MAX_WEIGHT:,} (nested values count every time they appear)")
    # Compare magnitudes in logarithm-free form: digits add under multiplication.
    numbers = isinstance(a, int | float) and isinstance(b, int | float) and a and b
    if numbers and len(str(int(abs(a)))) + len(str(int(abs(b)))) > 102:
        raise ConditionLimit("Condition builds a number beyond 10**100")
    return operator.mul(a, b)


def _plus(a: Any, b: Any) -> Any:
    """`+`, refusing a concatenation too large before it is built."""
    if isinstance(a, str | list | tuple | bytes) and isinstance(b, str | list | tuple | bytes):
        if len(a) + len(b) > MAX_SIZE:
            raise ConditionLimit(f"Condition builds a value of {len(a) + len(b):,} items; at most {MAX_SIZE:,} are allowed")
        if isinstance(a, list | tuple):
            _light(a, b, what="builds a value")
    return operator.add(a, b)


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
    ast.Add: _plus,
    ast.Sub: operator.sub,
    ast.Mult: _times,
    ast.Div: operator.truediv,
    ast.Mod: _modulo,
}


def _text(value: Any) -> str:
    """`str(value)`, refused before it is built when it would be too long."""
    if not isinstance(value, str) and text_length(value) > MAX_SIZE:
        raise ConditionLimit(f"Condition turns a value into text of more than {MAX_SIZE:,} characters")
    return str(value)


_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "len": len,
    "str": _text,
    "int": int,
    "float": float,
    "bool": bool,
    "lower": lambda s: _text(s).lower(),
    "upper": lambda s: _text(s).upper(),
}
# Operations that walk their operands (a comparison of two lists compares every item).
_WALKING = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)


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
        _eval(tree, {}, _Budget())
    except ConditionLimit:
        raise
    except (MemoryError, RecursionError):
        raise ConditionLimit(f"Condition {text[:80]!r} needs more memory or nesting than a condition may use") from None
    except Exception:
        pass
    return tree


class _Budget:
    """Steps and wall clock left to one evaluation."""

    __slots__ = ("deadline", "steps")

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.deadline = time.monotonic() + DEADLINE_SECONDS

    def spend(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise ConditionLimit(f"Condition takes more than {MAX_STEPS:,} steps to evaluate")
        if time.monotonic() > self.deadline:
            raise ConditionLimit(f"Condition takes more than {DEADLINE_SECONDS:g} s to evaluate")


def _eval(node: ast.AST, state: Mapping[str, Any], budget: _Budget) -> Any:
    budget.spend()

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
                if isinstance(op, _WALKING):
                    _light(current, right, what="compares or searches values")
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
        return bool(_eval(tree, state, _Budget()))
    except ConditionLimit:
        raise  # the run fails with the reason: a bound broken is not "the condition is false"
    except (MemoryError, RecursionError):
        raise ConditionLimit(f"Condition {text[:80]!r} needs more memory or nesting than a condition may use") from None
    except (TypeError, KeyError, IndexError, ValueError, ZeroDivisionError, OverflowError):
        return False
