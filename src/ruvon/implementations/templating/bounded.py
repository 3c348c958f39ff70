"""Bounded operators, methods, filters and globals for the template sandbox.

Each check estimates, before anything is built, how large the result of an operation can be,
and refuses it above the render's limit (:class:`~ruvon.implementations.templating.limits.Budget`).
Estimates are upper bounds from the arguments (a width, a repeat count, the number of lines),
never a measurement of the result: ``'%999999999d' % 1`` is refused without a byte allocated.
"""

from __future__ import annotations

import functools
import math
import numbers
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jinja2.filters import make_attrgetter, sync_do_join
from jinja2.nodes import EvalContext
from jinja2.utils import generate_lorem_ipsum, pass_eval_context

from ruvon.implementations.templating.limits import Budget, LimitExceeded, budget, measure

__all__ = ["bounded_filters", "bounded_lipsum", "check_binop", "check_call", "check_format_field"]

#: Largest integer, in bits, that ``**`` and ``*`` may produce.
MAX_INT_BITS = 10_000
#: Largest ``precision`` of the ``round`` filter (``ceil`` and ``floor`` compute ``10**precision``).
MAX_ROUND_DIGITS = 100
#: Longest lorem ipsum word plus its separator, for :func:`bounded_lipsum`.
_LIPSUM_WORD = 14
#: Longest number accepted in a width or precision, in digits.
_MAX_DIGITS = 9

Filter = Callable[..., Any]


def _size(value: Any, current: Budget) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    return measure(value, current.limits.max_value_size)[0]


def _int(value: Any) -> int:
    """``value`` if it is a plain integer, else 0 (the real call raises its own error)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


# --- operators ----------------------------------------------------------------------------------


def check_binop(operator: str, left: Any, right: Any, current: Budget) -> None:
    """Refuse ``left <operator> right`` when its result would be over the limits."""
    if operator == "**":
        _check_power(left, right)
    elif operator == "*":
        _check_multiply(left, right, current)
    elif operator == "+":
        if isinstance(left, str | bytes | list | tuple) and isinstance(
            right, str | bytes | list | tuple
        ):
            current.check_size(_size(left, current) + _size(right, current), "the sum")
    elif operator == "%" and isinstance(left, str | bytes):
        check_percent_format(left, right, current)


def _check_power(base: Any, exponent: Any) -> None:
    base, exponent = _int(base), _int(exponent)
    if exponent > 0 and abs(base) > 1 and exponent * math.log2(abs(base)) > MAX_INT_BITS:
        raise LimitExceeded(f"{base} ** {exponent} would exceed {MAX_INT_BITS} bits")


def _check_multiply(left: Any, right: Any, current: Budget) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise LimitExceeded(f"the product would exceed {MAX_INT_BITS} bits")
        return
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | bytes | list | tuple) and _int(times) > 0:
            current.check_size(_size(sequence, current) * times, "repeating a sequence")


# --- printf-style and str.format ------------------------------------------------------------------


def _number(text: str, i: int) -> tuple[int | str, int]:
    """The width or precision at ``text[i:]`` (``'*'`` or digits) and the index after it."""
    if i < len(text) and text[i] == "*":
        return "*", i + 1
    start = i
    while i < len(text) and text[i].isdigit():
        i += 1
    digits = text[start:i]
    return (10**_MAX_DIGITS if len(digits) > _MAX_DIGITS else int(digits or 0)), i


def _percent_specs(fmt: str) -> Iterator[tuple[str | None, int | str, int | str]]:
    """Mapping key, width and precision of each conversion of a printf-style format, as CPython
    parses it (``%%`` included, as a conversion of width 0 that takes no value)."""
    i = 0
    while (i := fmt.find("%", i)) >= 0:
        i += 1
        key = None
        if i < len(fmt) and fmt[i] == "(":  # mapping key: parentheses nest
            depth, start = 1, i + 1
            i += 1
            while i < len(fmt) and depth:
                depth += {"(": 1, ")": -1}.get(fmt[i], 0)
                i += 1
            key = fmt[start : i - 1]
        while i < len(fmt) and fmt[i] in "#0- +":
            i += 1
        width, i = _number(fmt, i)
        precision: int | str = 0
        if i < len(fmt) and fmt[i] == ".":
            precision, i = _number(fmt, i + 1)
        while i < len(fmt) and fmt[i] in "hlL":
            i += 1
        if i < len(fmt) and fmt[i] == "%":
            key = "%"
        i += 1
        yield key, width, precision


def check_percent_format(fmt: str | bytes, values: Any, current: Budget) -> None:
    """Refuse ``fmt % values`` when widths, precisions and values add up over the limit.

    Each conversion counts the value it formats: with a mapping, ``'%(a)s%(a)s'`` formats
    ``a`` twice.
    """
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    positional = iter(values if isinstance(values, tuple) else (values,))
    size = len(text)
    for key, width, precision in _percent_specs(text):
        for number in (width, precision):
            size += abs(_int(next(positional, 0) if number == "*" else number))
        if key == "%":
            continue
        if key is None:
            value = next(positional, None)
        elif isinstance(values, Mapping):
            value = values.get(key)
        else:
            value = None
        size += _size(value, current)
        current.check_size(size, "the formatted string")
    current.check_size(size, "the formatted string")


_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<precision>\d*))?")


def check_format_field(value: Any, spec: str, current: Budget) -> None:
    """Refuse one ``str.format`` field whose width or precision is over the limit."""
    match = _FORMAT_SPEC.match(spec)
    size = len(spec) + _size(value, current)
    if match:
        for digits in match.group("width", "precision"):
            size += 10**_MAX_DIGITS if len(digits or "") > _MAX_DIGITS else int(digits or 0)
    current.check_size(size, "the formatted field")


# --- methods of built-in values ------------------------------------------------------------------


def _padded(text: str | bytes, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    return max(len(text), _int(_arg(args, kwargs, 0, "width")))


def _expanded_tabs(text: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    tabs = text.count("\t" if isinstance(text, str) else b"\t")
    tabsize = _arg(args, kwargs, 0, "tabsize")
    return int(len(text) + tabs * max(_int(8 if tabsize is None else tabsize), 0))


def _replaced(text: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    old, new, count = _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new"), -1
    if len(args) > 2 or "count" in kwargs:
        count = _int(_arg(args, kwargs, 2, "count"))
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return len(text)
    hits = text.count(old) if old else len(text) + 1
    if count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _translated(text: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    table = _arg(args, kwargs, 0, "table")
    replacements = table.values() if isinstance(table, Mapping) else table
    if not isinstance(replacements, Iterable) or isinstance(replacements, Iterator):
        return len(text)
    longest = max((len(r) for r in replacements if isinstance(r, str | bytes)), default=1)
    return len(text) * max(longest, 1)


_TEXT_METHODS: dict[str, Callable[[Any, tuple[Any, ...], Mapping[str, Any]], int]] = {
    "center": _padded,
    "ljust": _padded,
    "rjust": _padded,
    "zfill": _padded,
    "expandtabs": _expanded_tabs,
    "replace": _replaced,
    "translate": _translated,
}


def check_call(
    obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], current: Budget
) -> tuple[Any, ...]:
    """Refuse a call of a built-in method whose result would be over the limit.

    Returns the positional arguments to call with: ``str.join`` gets its iterable as a list,
    consumed (and measured) here so that it is not consumed twice.
    """
    receiver, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if isinstance(receiver, str | bytes):
        if name == "join" and len(args) == 1 and not kwargs:
            return (_measured_items(args[0], len(receiver), current),)
        estimate = _TEXT_METHODS.get(name)
        if estimate is not None:
            current.check_size(estimate(receiver, args, kwargs), f"the result of {name}()")
    elif isinstance(receiver, int) and name == "to_bytes":
        length = _arg(args, kwargs, 0, "length")
        current.check_size(_int(length if length is not None else 1), "the result of to_bytes()")
    return args


def _measured_items(items: Iterable[Any], separator: int, current: Budget) -> list[Any]:
    """``items`` as a list, refused as soon as joining them would go over the limit."""
    result, size = [], 0
    for item in items:
        size += _size(item, current) + separator
        current.check_size(size, "the joined string")
        result.append(item)
    return result


# --- filters -------------------------------------------------------------------------------------


def _check_center(current: Budget, value: Any, width: Any = 80) -> None:
    current.check_size(max(_size(value, current), _int(width)), "the centered string")


def _check_indent(current: Budget, s: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
    text = str(s)
    indent = len(width) if isinstance(width, str) else _int(width)
    current.check_size(len(text) + (text.count("\n") + 2) * indent, "the indented string")


def _check_wordwrap(
    current: Budget,
    s: Any,
    width: Any = 79,
    break_long_words: Any = True,
    wrapstring: Any = None,
    *args: Any,
    **kwargs: Any,
) -> None:
    text = str(s)
    # Two consecutive lines of a paragraph hold more than ``width`` characters of the input
    # (the next word did not fit), so a paragraph has at most 2 * len / width + 1 lines.
    lines = 2 * len(text) // max(_int(width), 1) + text.count("\n") + 2
    joint = len(wrapstring) if isinstance(wrapstring, str) else 1
    current.check_size(len(text) + lines * joint, "the wrapped string")


def _check_format(current: Budget, value: Any, *args: Any, **kwargs: Any) -> None:
    check_percent_format(str(value), kwargs or args, current)


def _check_replace(current: Budget, s: Any, old: Any, new: Any, count: Any = None) -> None:
    given = () if count is None else (count,)
    current.check_size(_replaced(str(s), (old, new, *given), {}), "the replaced string")


def _check_urlize(
    current: Budget,
    value: Any,
    trim_url_limit: Any = None,
    nofollow: Any = False,
    target: Any = None,
    rel: Any = None,
    *args: Any,
    **kwargs: Any,
) -> None:
    text = str(value)
    # A link is written twice plus its attributes; every link holds a '.', '@' or ':'.
    links = text.count(".") + text.count("@") + text.count(":")
    extra = len(str(target or "")) + len(str(rel or "")) + 64
    current.check_size(3 * len(text) + links * extra, "the urlized string")


def _check_tojson(current: Budget, value: Any, indent: Any = None) -> None:
    if indent is None:
        return
    size, depth = measure(value, current.limits.max_value_size)
    width = len(indent) if isinstance(indent, str) else _int(indent)
    current.check_size(size * (width * depth + 1), "the indented JSON")


def _check_pprint(current: Budget, value: Any) -> None:
    # pformat indents each line by one space per level it is nested in.
    size, depth = measure(value, current.limits.max_value_size)
    current.check_size(size * depth, "the pretty-printed value")


def _check_batch(current: Budget, value: Any, linecount: Any, fill_with: Any = None) -> None:
    if fill_with is not None:
        current.check_size(_int(linecount) * _size(fill_with, current), "the filled batch")


def _check_slice(current: Budget, value: Any, slices: Any, fill_with: Any = None) -> None:
    current.check_size(_int(slices), "the number of slices")


def _check_sum(current: Budget, iterable: Any, attribute: Any = None, start: Any = 0) -> None:
    # Adding lists or strings is quadratic: ``sum`` only adds numbers.
    if not isinstance(start, numbers.Number):
        raise LimitExceeded("the sum filter only adds numbers")


def _check_round(current: Budget, value: Any, precision: Any = 0, method: Any = "common") -> None:
    if abs(_int(precision)) > MAX_ROUND_DIGITS:
        raise LimitExceeded(f"round precision must be within +-{MAX_ROUND_DIGITS}")


_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": _check_center,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "format": _check_format,
    "replace": _check_replace,
    "urlize": _check_urlize,
    "tojson": _check_tojson,
    "pprint": _check_pprint,
    "batch": _check_batch,
    "slice": _check_slice,
    "sum": _check_sum,
    "round": _check_round,
}


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    current = budget()
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    return sync_do_join(eval_ctx, _measured_items(value, len(str(d)), current), d)


def _counted(items: Iterator[Any], current: Budget) -> Iterator[Any]:
    for item in items:
        current.charge(1, "the items of an iterator")
        yield item


# Types that are never lazy iterators: skips an ABC check in the hot path.
_PLAIN = frozenset({str, int, float, bool, list, tuple, dict, type(None)})


def _bounded(name: str, original: Filter) -> Filter:
    check = _FILTER_CHECKS.get(name)
    # A filter's own arguments come after the context, eval context or environment it asks for.
    skip = 1 if getattr(original, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(original)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        current = budget()
        current.step()
        if len(args) > skip and type(args[skip]) not in _PLAIN and isinstance(args[skip], Iterator):
            # Lazy input (``map``, ``select`` ...): counted as it is consumed.
            args = (*args[:skip], _counted(args[skip], current), *args[skip + 1 :])
        if check is not None:
            check(current, *args[skip:], **kwargs)
        result = original(*args, **kwargs)
        if isinstance(result, str | bytes | list | tuple | dict):
            current.charge_value(result, f"the result of the {name} filter")
        return result

    return bounded


def bounded_filters(filters: Mapping[str, Filter]) -> dict[str, Filter]:
    """Every filter of ``filters`` counted as a step, measured, and checked where it can grow."""
    replaced: dict[str, Filter] = {"join": _join}
    return {name: _bounded(name, replaced.get(name, f)) for name, f in filters.items()}


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """``lipsum`` refused when ``n`` paragraphs of up to ``max`` words would be over the limit."""
    words = _int(n) * (abs(_int(min)) + abs(_int(max)))
    budget().check_size(words * _LIPSUM_WORD, "the lorem ipsum")
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)
