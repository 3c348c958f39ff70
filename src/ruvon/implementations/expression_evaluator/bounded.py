"""Limits and bounded operations for the expression evaluator.

What an expression may build is counted (:func:`size_of`), integer results are kept small, and
repetition, formatting and a few built-ins are replaced by versions that refuse unbounded work.
"""

from __future__ import annotations

import ast
import math
import numbers
import operator
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel
from simpleeval import FeatureNotAvailable, IterableTooLong, NumberTooHigh

# --- limits -------------------------------------------------------------------------------------

#: Longest expression text accepted.
MAX_EXPRESSION_LENGTH = 2000
#: Deepest nesting of the syntax tree (``not not not ... x``, ``1+1+...+1``).
MAX_DEPTH = 64
#: Most syntax-tree nodes evaluated in one evaluation (bounds comprehensions).
MAX_STEPS = 100_000
#: Largest size (about: characters + elements) of one value an expression builds.
MAX_VALUE_SIZE = 100_000
#: Largest total size of all values one evaluation builds.
MAX_BUILT_SIZE = 500_000
#: Largest integer, in bits, that ``**``, ``*`` and ``<<`` may produce.
MAX_INT_BITS = 10_000
#: Largest exponent for bases other than ``int``, ``float`` and ``complex``.
MAX_EXPONENT = 10_000
#: Most digits ``int()`` converts from text (CPython's default int/str conversion limit).
MAX_INT_DIGITS = 4300
#: Largest ``ndigits`` accepted by ``round`` (``round(1, -10**9)`` computes ``10**10**9``).
MAX_ROUND_DIGITS = 100
#: Parsed expressions kept per evaluator.
PARSE_CACHE_SIZE = 1024


# --- bounded operators and functions -----------------------------------------------------------


def size_of(value: Any, limit: int) -> int:
    """Approximate size of ``value``: elements, characters and big-integer words, recursively
    (the fields of pydantic models included).

    Counting stops as soon as the size exceeds ``limit``, so the cost is bounded by ``limit``
    whatever the value (shared, cyclic or huge structures included).
    """
    total = 0
    pending: list[Iterable[Any]] = [(value,)]
    while pending:
        for item in pending.pop():
            total += 1
            kind = type(item)
            # Exact types first: this is the hot loop.
            if kind is int:
                total += item.bit_length() >> 6
            elif kind is str or kind is bytes:
                total += len(item)
            elif kind is list or kind is tuple or kind is set or kind is frozenset:
                pending.append(item)
            elif kind is dict:
                pending.append(item.keys())
                pending.append(item.values())
            else:
                total += _size_of_other(item, pending)
            if total > limit:
                return total
    return total


def _size_of_other(item: Any, pending: list[Iterable[Any]]) -> int:
    """What :func:`size_of` adds for ``item`` of a subclass or another type; queues its parts."""
    if isinstance(item, str | bytes):
        return len(item)
    if isinstance(item, int):
        return item.bit_length() >> 6
    if isinstance(item, list | tuple | set | frozenset):
        pending.append(item)
    elif isinstance(item, dict):
        pending.append(item.keys())
        pending.append(item.values())
    elif isinstance(item, BaseModel):
        # A model prints its fields: ``str([state] * 10**5)`` is as large as they are.
        pending.append(item.__dict__.values())
    return 0


def _safe_power(base: Any, exponent: Any) -> Any:
    if isinstance(exponent, int) and not isinstance(base, float | complex):
        if isinstance(base, int):
            if exponent > 0 and abs(base) > 1 and exponent * math.log2(abs(base)) > MAX_INT_BITS:
                raise NumberTooHigh(f"{base} ** {exponent} would exceed {MAX_INT_BITS} bits")
        elif abs(exponent) > MAX_EXPONENT:
            raise NumberTooHigh(f"exponent {exponent} is larger than {MAX_EXPONENT}")
    return base**exponent


def _safe_mult(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise NumberTooHigh(f"the product would exceed {MAX_INT_BITS} bits")
        return left * right
    for sequence, times in ((left, right), (right, left)):
        if isinstance(times, int) and times > 0:
            if isinstance(sequence, str | bytes):
                size = len(sequence) * times
            elif isinstance(sequence, list | tuple):
                size = size_of(sequence, MAX_VALUE_SIZE) * times
            else:
                continue
            if size > MAX_VALUE_SIZE:
                raise IterableTooLong(f"repeating a sequence {times} times is too large")
    return left * right


def _safe_add(left: Any, right: Any) -> Any:
    if (
        isinstance(left, str | bytes | list | tuple)
        and isinstance(right, str | bytes | list | tuple)
        and len(left) + len(right) > MAX_VALUE_SIZE
    ):
        raise IterableTooLong("concatenating those sequences is too large")
    return left + right


def _safe_mod(left: Any, right: Any) -> Any:
    if isinstance(left, str | bytes):
        raise FeatureNotAvailable("%-formatting of strings is not allowed")
    return left % right


def _safe_lshift(left: Any, right: Any) -> Any:
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right > MAX_INT_BITS
    ):
        raise NumberTooHigh(f"{left} << {right} would exceed {MAX_INT_BITS} bits")
    return left << right


OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: _safe_add,
    ast.Sub: operator.sub,
    ast.Mult: _safe_mult,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _safe_mod,
    ast.Pow: _safe_power,
    ast.LShift: _safe_lshift,
    ast.RShift: operator.rshift,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
    ast.BitAnd: operator.and_,
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Invert: operator.invert,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda left, right: left in right,
    ast.NotIn: lambda left, right: left not in right,
}


def _safe_round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        return round(number)
    if not isinstance(ndigits, int) or abs(ndigits) > MAX_ROUND_DIGITS:
        raise NumberTooHigh(f"round() ndigits must be an integer within +-{MAX_ROUND_DIGITS}")
    return round(number, ndigits)


def _safe_int(*args: Any, **kwargs: Any) -> int:
    if args and isinstance(args[0], str | bytes | bytearray) and len(args[0]) > MAX_INT_DIGITS:
        raise NumberTooHigh(f"int() of text longer than {MAX_INT_DIGITS} characters")
    return int(*args, **kwargs)


def _safe_sum(values: Iterable[Any], start: Any = 0, /) -> Any:
    # Only numbers: ``sum(lists, [])`` would concatenate quadratically.
    if not isinstance(start, numbers.Number):
        raise FeatureNotAvailable("sum() only adds numbers")
    total: Any = start
    return sum(values, total)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "round": _safe_round,
    "int": _safe_int,
    "float": float,
    "str": str,
    "bool": bool,
    "sum": _safe_sum,
    "any": any,
    "all": all,
}
