"""A safe expression evaluator built on ``simpleeval``.

Expressions are conditions over the workflow state, such as
``state.amount > 1000 and state.country in ['DE', 'FR']``. They may read names, attributes
and subscripts, compare, combine with ``and``/``or``/``not``, do arithmetic, build literals and
bounded comprehensions, and call a few pure built-ins (``len``, ``min``, ``sum`` ...).

Safety comes in two layers:

* every distinct expression is parsed once (``ast.parse`` in ``eval`` mode) and checked
  statically: only whitelisted syntax, no names or attributes starting with ``__``, no pydantic
  ``model_*`` internals, calls only of whitelisted functions by name, bounded length and depth;
* evaluation runs in a hardened ``simpleeval.EvalWithCompoundTypes`` that refuses callable or
  module values (so no method can be reached, let alone called), bounds the number of
  evaluation steps, the size of integers, and the total size of the values an expression builds
  (``'a' * 10**9``, ``[[1] * 1000] * 1000``, big comprehensions), and refuses ``%``-formatting
  and f-strings, whose width fields allocate unbounded memory.

The ``_`` rule guards the attribute namespace of Python objects: ``__class__`` and the other
special names lead out of the data, ``_token`` is a private attribute of a model. A key of a
mapping is data whatever its name, as much as the value under it, so every path to a key gives
the same answer whether it starts with ``_`` or not: ``m['_k']``, ``m._k``, ``{**m}``,
iterating ``m``, ``'_k' in m``. (Method calls such as ``m.get('_k')`` or ``m.items()`` are
refused for every key.) Attribute syntax can not name a key starting with ``__``, nor one named
like an internal (``format``, ``mro``, ``model_dump`` ...): those names are refused before
evaluation on every object; a subscript reads such a key.

Every failure, from a syntax error to a missing attribute, is an :class:`ExpressionError`
naming the expression, with the original exception chained as its cause.
"""

from __future__ import annotations

import ast
import functools
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from pydantic import BaseModel
from simpleeval import (
    AttributeDoesNotExist,
    EvalWithCompoundTypes,
    FeatureNotAvailable,
    FunctionNotDefined,
    InvalidExpression,
    IterableTooLong,
    NameNotDefined,
)

from ruvon.errors import ExpressionError
from ruvon.implementations.expression_evaluator.bounded import (
    FUNCTIONS,
    MAX_BUILT_SIZE,
    MAX_DEPTH,
    MAX_EXPRESSION_LENGTH,
    MAX_STEPS,
    MAX_VALUE_SIZE,
    OPERATORS,
    PARSE_CACHE_SIZE,
    size_of,
)

__all__ = ["SimpleExpressionEvaluator"]

# --- what the syntax may contain ---------------------------------------------------------------

_ALLOWED_NODES: frozenset[type[ast.AST]] = frozenset(
    {
        ast.Expression,
        ast.Constant,
        ast.Name,
        ast.Load,
        ast.Store,
        ast.Attribute,
        ast.Subscript,
        ast.Slice,
        ast.BinOp,
        ast.UnaryOp,
        ast.BoolOp,
        ast.Compare,
        ast.IfExp,
        ast.Call,
        ast.keyword,
        ast.List,
        ast.Tuple,
        ast.Dict,
        ast.Set,
        ast.Starred,
        ast.ListComp,
        ast.GeneratorExp,
        ast.DictComp,
        ast.comprehension,
        # operators
        ast.Add,
        ast.Sub,
        ast.Mult,
        ast.Div,
        ast.FloorDiv,
        ast.Mod,
        ast.Pow,
        ast.LShift,
        ast.RShift,
        ast.BitOr,
        ast.BitXor,
        ast.BitAnd,
        ast.And,
        ast.Or,
        ast.Not,
        ast.USub,
        ast.UAdd,
        ast.Invert,
        ast.Eq,
        ast.NotEq,
        ast.Lt,
        ast.LtE,
        ast.Gt,
        ast.GtE,
        ast.Is,
        ast.IsNot,
        ast.In,
        ast.NotIn,
    }
)

# Nodes whose result is a value the expression built (and so is charged to its size budget).
_BUILDING_NODES: frozenset[type[ast.AST]] = frozenset(
    {
        ast.BinOp,
        ast.Call,
        ast.List,
        ast.Tuple,
        ast.Dict,
        ast.Set,
        ast.ListComp,
        ast.GeneratorExp,
        ast.DictComp,
    }
)

# Nodes simpleeval would evaluate that expressions may not use (statements, f-strings: the
# format spec of ``f"{1:999999999}"`` allocates unbounded memory).
_REMOVED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.Import,
    ast.JoinedStr,
    ast.FormattedValue,
)

# Refused before evaluation on every object, mappings included. Single-underscore names are
# judged when evaluated: a key of a mapping, or else a private attribute (refused).
_FORBIDDEN_ATTRIBUTE_PREFIXES = ("__", "func_")
_FORBIDDEN_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "format",
        "format_map",
        "mro",
        "exec",
        "eval",
        "f_back",
        "f_builtins",
        "f_code",
        "f_globals",
        "f_locals",
        "tb_frame",
        "tb_next",
        "gi_code",
        "gi_frame",
        "ag_code",
        "ag_frame",
        "cr_code",
        "cr_frame",
        "co_code",
    }
    | {name for name in dir(BaseModel) if name.startswith("model_")}
)

# --- static checks -----------------------------------------------------------------------------


def _check_attribute_name(name: str) -> None:
    if name.startswith(_FORBIDDEN_ATTRIBUTE_PREFIXES) or name in _FORBIDDEN_ATTRIBUTES:
        raise FeatureNotAvailable(f"access to attribute {name!r} is not allowed")


def _check_node(node: ast.AST) -> None:
    if type(node) not in _ALLOWED_NODES:
        raise FeatureNotAvailable(f"{type(node).__name__} is not allowed")
    if isinstance(node, ast.Attribute):
        _check_attribute_name(node.attr)
    elif isinstance(node, ast.Name):
        if node.id.startswith("__"):
            raise FeatureNotAvailable(f"name {node.id!r} is not allowed")
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise FeatureNotAvailable(
                "only calls of " + ", ".join(FUNCTIONS) + " are allowed, not method calls"
            )
        if node.func.id not in FUNCTIONS:
            raise FeatureNotAvailable(f"function {node.func.id!r} is not allowed")
    elif isinstance(node, ast.comprehension) and node.is_async:
        raise FeatureNotAvailable("async comprehensions are not allowed")


def _parse(expression: str) -> ast.expr:
    """Parse and statically check one expression; the result is cached by the caller."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression is {len(expression)} characters long, longer than the "
            f"{MAX_EXPRESSION_LENGTH} allowed",
            expression=expression[:80] + "...",
        )
    if not expression.strip():
        raise ExpressionError("expression is empty", expression=expression)
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"invalid syntax: {exc}", expression=expression) from exc
    pending: list[tuple[ast.AST, int]] = [(tree, 0)]
    try:
        while pending:
            node, depth = pending.pop()
            if depth > MAX_DEPTH:
                raise FeatureNotAvailable(f"expression is nested deeper than {MAX_DEPTH} levels")
            _check_node(node)
            pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    except InvalidExpression as exc:
        raise ExpressionError(str(exc), expression=expression) from exc
    return tree.body


# --- evaluation --------------------------------------------------------------------------------


class _GuardedEval(EvalWithCompoundTypes):  # type: ignore[misc]  # simpleeval is untyped
    """``EvalWithCompoundTypes`` with data-only values and bounded work.

    One instance serves one evaluation at a time; :meth:`eval` resets the step and size budgets,
    so an instance can be reused by the thread that owns it.
    """

    def __init__(self, names: Mapping[str, Any]) -> None:
        super().__init__(operators=OPERATORS, functions=dict(FUNCTIONS), names=names)
        # EvalWithCompoundTypes adds list/tuple/dict/set as functions: keep the whitelist only.
        self.functions = dict(FUNCTIONS)
        for node_type in _REMOVED_NODES:
            self.nodes.pop(node_type, None)
        self._steps = 0
        self._budget = MAX_BUILT_SIZE

    def eval(self, expr: str, previously_parsed: ast.expr | None = None) -> Any:
        self._steps = 0
        self._budget = MAX_BUILT_SIZE
        return super().eval(expr, previously_parsed)

    def _eval(self, node: ast.AST) -> Any:
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise IterableTooLong(f"evaluation takes more than {MAX_STEPS} steps")
        handler = self.nodes.get(type(node))
        if handler is None:
            raise FeatureNotAvailable(f"{type(node).__name__} is not allowed")
        result = handler(node)
        if callable(result) or isinstance(result, ModuleType):
            raise FeatureNotAvailable(
                f"a {type(result).__name__} is not allowed as a value: expressions read data, "
                "they can not reach functions, methods, classes or modules"
            )
        if type(node) in _BUILDING_NODES or (
            isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice)
        ):
            self._charge(result)
        return result

    def _charge(self, value: Any) -> None:
        limit = min(MAX_VALUE_SIZE, self._budget)
        size = size_of(value, limit)
        if size > limit:
            raise IterableTooLong(
                "the expression builds values that are too large "
                f"(more than {MAX_VALUE_SIZE} per value or {MAX_BUILT_SIZE} in total)"
            )
        self._budget -= size

    def _eval_name(self, node: ast.Name) -> Any:
        if node.id.startswith("__"):
            raise FeatureNotAvailable(f"name {node.id!r} is not allowed")
        try:
            return self.names[node.id]
        except KeyError:
            raise NameNotDefined(node.id, self.expr) from None

    def _eval_call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in self.functions:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise FunctionNotDefined(name, self.expr)
        return super()._eval_call(node)

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        name = node.attr
        _check_attribute_name(name)
        obj = self._eval(node.value)
        # Dicts in the state read like objects: ``state.customer.country``. ``in`` first, so a
        # defaultdict does not grow. A key is data, whatever its name.
        if isinstance(obj, Mapping) and name in obj:
            return obj[name]
        if name.startswith("_"):
            raise FeatureNotAvailable(f"access to attribute {name!r} is not allowed")
        try:
            return getattr(obj, name)
        except AttributeError:
            raise AttributeDoesNotExist(name, self.expr) from None


def _describe(exc: InvalidExpression) -> str:
    """The message of a simpleeval error, without simpleeval's copy of the expression."""
    if isinstance(exc, NameNotDefined):
        return f"name {exc.name!r} is not defined"
    if isinstance(exc, AttributeDoesNotExist):
        return f"attribute {exc.attr!r} does not exist"
    if isinstance(exc, FunctionNotDefined):
        return f"function {exc.func_name!r} is not allowed"
    return str(exc)


class SimpleExpressionEvaluator:
    """Evaluates condition expressions safely with ``simpleeval``.

    Allowed: names from ``names``, attribute access (also on dicts), subscripts, comparisons
    (chained too), ``and``/``or``/``not``, ``in``/``not in``, arithmetic, conditional
    expressions, literals (numbers, strings, ``True``/``False``/``None``, lists, tuples, dicts,
    sets), bounded comprehensions and the functions ``len abs min max round int float str bool
    sum any all``.

    Refused with :class:`ExpressionError`: names starting with ``__``, attributes starting with
    ``_`` (a mapping's keys are data: ``m._k`` and ``m['_k']`` read them); pydantic ``model_*``
    internals; any call except of those functions (so no methods,
    no ``__import__``, ``open``, ``eval``, ``getattr``); callable values; lambdas, f-strings,
    ``%``-formatting, walrus and statements; expressions longer than
    :data:`MAX_EXPRESSION_LENGTH` characters or deeper than :data:`MAX_DEPTH`; integers above
    :data:`MAX_INT_BITS` bits; built values above :data:`MAX_VALUE_SIZE` (or
    :data:`MAX_BUILT_SIZE` in total); more than :data:`MAX_STEPS` evaluation steps.

    Each distinct expression text is parsed and checked once, then served from an LRU cache.
    The evaluator is safe to share between threads and tasks.
    """

    def __init__(self) -> None:
        self._parse: Callable[[str], ast.expr] = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(
            _parse
        )
        # One simpleeval instance per thread, reused: building one costs more than evaluating
        # a typical condition.
        self._local = threading.local()

    def evaluate(self, expression: str, names: Mapping[str, Any]) -> Any:
        """Evaluate ``expression`` with ``names`` (e.g. ``{"state": state}``) in scope."""
        if not isinstance(expression, str):
            raise ExpressionError(
                f"an expression must be a string, not {type(expression).__name__}"
            )
        body = self._parse(expression)
        evaluator: _GuardedEval | None = getattr(self._local, "evaluator", None)
        if evaluator is None:
            evaluator = _GuardedEval({})
        else:
            # Taken while in use; a nested evaluate (say, from a property of the state) gets
            # its own instance.
            self._local.evaluator = None
        evaluator.names = names
        try:
            return evaluator.eval(expression, previously_parsed=body)
        except InvalidExpression as exc:
            raise ExpressionError(_describe(exc), expression=expression) from exc
        except Exception as exc:
            raise ExpressionError(
                f"evaluation failed with {type(exc).__name__}: {exc}", expression=expression
            ) from exc
        finally:
            evaluator.names = {}
            self._local.evaluator = evaluator
