"""SimpleExpressionEvaluator: legitimate conditions evaluate, escapes and bombs are refused."""

from __future__ import annotations

import ast
import re
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel
from simpleeval import (
    AttributeDoesNotExist,
    FeatureNotAvailable,
    FunctionNotDefined,
    IterableTooLong,
    NameNotDefined,
    NumberTooHigh,
)

from ruvon.errors import ExpressionError
from ruvon.implementations.expression_evaluator import simple
from ruvon.implementations.expression_evaluator.bounded import PARSE_CACHE_SIZE
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.providers.expression import ExpressionEvaluator


class Customer(BaseModel):
    country: str
    vip: bool = False
    tags: list[str] = []


class LineItem(BaseModel):
    sku: str
    qty: int
    price: float


class State(BaseModel):
    amount: float
    country: str
    customer: Customer
    items: list[LineItem]
    scores: list[int]
    data: dict[str, Any]
    note: str | None = None
    _token: str = "secret"


@pytest.fixture
def state() -> State:
    return State(
        amount=1500.0,
        country="DE",
        customer=Customer(country="FR", vip=True, tags=["gold", "eu"]),
        items=[
            LineItem(sku="A", qty=2, price=10.0),
            LineItem(sku="B", qty=5, price=2.5),
        ],
        scores=[3, 1, 4, 1, 5],
        data={"limits": {"max": 2000}, "region": "EU", "_internal": 1, "flags": [True, False]},
    )


@pytest.fixture(scope="module")
def evaluator() -> SimpleExpressionEvaluator:
    return SimpleExpressionEvaluator()


def test_satisfies_the_provider_protocol(evaluator: SimpleExpressionEvaluator) -> None:
    assert isinstance(evaluator, ExpressionEvaluator)


LEGITIMATE: list[tuple[str, Any]] = [
    ("state.amount > 1000 and state.country in ['DE','FR']", True),
    ("state.amount > 1000 and state.country in ['US']", False),
    ("state.amount", 1500.0),
    ("state.customer.country", "FR"),
    ("state.customer.vip", True),
    ("not state.customer.vip", False),
    ("state.customer.country == 'FR' or state.amount < 10", True),
    ("'gold' in state.customer.tags", True),
    ("'silver' not in state.customer.tags", True),
    ("state.data['limits']['max']", 2000),
    ("state.data.limits.max", 2000),
    ("state.data['region'] == 'EU'", True),
    ("state.data['flags'][1]", False),
    ("1000 < state.amount <= 2000", True),
    ("0 < state.amount < 1000", False),
    ("state.amount * 2 - 500", 2500.0),
    ("state.amount / 4", 375.0),
    ("state.amount // 7", 214.0),
    ("state.amount % 7", 2.0),
    ("2 ** 10", 1024),
    ("-state.amount", -1500.0),
    ("state.note is None", True),
    ("state.note is not None", False),
    ("state.items[0].sku", "A"),
    ("state.items[-1].qty", 5),
    ("state.scores[1:3]", [1, 4]),
    ("len(state.items)", 2),
    ("len(state.customer.tags) == 2", True),
    ("abs(-3)", 3),
    ("min(state.scores)", 1),
    ("max(state.scores)", 5),
    ("max(3, 9, 4)", 9),
    ("max([], default=0)", 0),
    ("round(2.567, 2)", 2.57),
    ("round(state.amount / 7)", 214),
    ("int('42') + 1", 43),
    ("float('1.5') * 2", 3.0),
    ("str(state.amount)", "1500.0"),
    ("bool(state.note)", False),
    ("sum(state.scores)", 14),
    ("sum(state.scores, 10)", 24),
    ("any(item.qty > 4 for item in state.items)", True),
    ("all(item.price > 5 for item in state.items)", False),
    ("sum([item.qty * item.price for item in state.items])", 32.5),
    ("[s * 2 for s in state.scores if s > 2]", [6, 8, 10]),
    ("{k: v for k, v in [('a', 1), ('b', 2)]}", {"a": 1, "b": 2}),
    ("(1, 'x', None, True, 2.5)", (1, "x", None, True, 2.5)),
    ("{'a': [1, 2], 'b': {'c': 3}}['b']['c']", 3),
    ("{1, 2} == {2, 1}", True),
    ("'high' if state.amount > 1000 else 'low'", "high"),
    ("'ab' * 3", "ababab"),
    ("[0] * 3", [0, 0, 0]),
    ("'DE' + '-' + state.country", "DE-DE"),
    ("state.country == 'DE'", True),
    ("10 ** 20", 10**20),
    ("len(str(10 ** 3000))", 3001),
    ("1 << 10", 1024),
    ("7 & 3 | 8 ^ 1", 7 & 3 | 8 ^ 1),
    ("'%' in 'x%y'", True),
    ("  state.amount > 0  ", True),
]


@pytest.mark.parametrize(("expression", "expected"), LEGITIMATE)
def test_legitimate_expressions(
    evaluator: SimpleExpressionEvaluator, state: State, expression: str, expected: Any
) -> None:
    result = evaluator.evaluate(expression, {"state": state})
    assert result == expected
    assert type(result) is type(expected)


def test_dict_names_in_scope(evaluator: SimpleExpressionEvaluator) -> None:
    names = {"state": {"amount": 5, "customer": {"country": "DE"}}, "limit": 3}
    assert evaluator.evaluate("state.amount > limit", names) is True
    assert evaluator.evaluate("state['customer'].country", names) == "DE"


def test_parsed_expressions_are_cached(
    evaluator: SimpleExpressionEvaluator, state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ast

    fresh = SimpleExpressionEvaluator()
    calls = 0
    real_parse = ast.parse

    def counting_parse(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", counting_parse)
    for amount in (1, 2000, 5000):
        state.amount = amount
        fresh.evaluate("state.amount > 1000", {"state": state})
    assert calls == 1


def test_repeated_evaluation_is_not_limited_by_earlier_ones(
    evaluator: SimpleExpressionEvaluator, state: State
) -> None:
    # Step and size budgets are per evaluation, not per evaluator: four of these take more
    # steps together than one evaluation may.
    for _ in range(4):
        assert evaluator.evaluate("len([s + s for s in [1] * 9000 if s])", {"state": state}) == 9000


HOSTILE: list[str] = [
    # attribute escapes
    "().__class__.__bases__",
    "().__class__.__bases__[0].__subclasses__()",
    "state.__dict__",
    "state.__class__",
    "state._token",
    "state.__private_attributes__",
    '"".__class__',
    "''.__class__.__mro__[1].__subclasses__()",
    "state.customer.__class__.__init__.__globals__",
    "[x.__class__ for x in [1]]",
    "state.data['__class__']",
    # pydantic internals
    "state.model_config",
    "state.model_fields",
    "state.customer.model_fields_set",
    "state.model_dump",
    "state.model_dump()",
    "state.model_copy(update={'amount': 0})",
    "state.model_validate({})",
    # method calls and callable values
    '"x".format(1)',
    "'{0.__class__}'.format(state)",
    "''.join(['a', 'b'])",
    "state.scores.append(1)",
    "state.scores.clear()",
    "state.data.update({'a': 1})",
    "state.data.items",
    "{}.get",
    "state.country.upper()",
    "state.dict()",
    "max([1, 2], key=len)",
    "len",
    # forbidden functions, imports, statements, other syntax
    "__import__('os')",
    "__import__('os').system('echo pwned')",
    "open('/etc/passwd')",
    "eval('1 + 1')",
    "exec('x = 1')",
    "getattr(state, 'amount')",
    "globals()",
    "type(state)",
    "list(state.scores)",
    "lambda: 1",
    "(lambda: 1)()",
    "(x := 1)",
    "import os",
    "x = 1",
    "1; 2",
    "f'{state}'",
    "f'{1:999999999}'",
    "'%999999999s' % 1",
    "[x async for x in state.scores]",
    "{x for x in [1]}",
    # bombs: time and memory
    "9**9**9",
    "2**100000",
    "4000000 ** 4000000",
    "(2 ** 6000) * (2 ** 6000)",
    "(1 << 10000) << 10000",
    "'a' * 10**9",
    "[1] * 10**9",
    "10**9 * 'a'",
    "[[1] * 1000] * 1000",
    "str([[1] * 1000] * 1000)",
    "sum([[1] * 1000] * 1000, [])",
    "[x for x in [1] * 10000 for y in [1] * 10000]",
    "[[1] * 50000 for x in [1] * 10000]",
    "[[y for y in [1] * 9000] for x in [1] * 9000]",
    "round(1, -10**9)",
    "int('9' * 5000)",
    "'a' * 60000 + 'b' * 60000",
    "x" * 2001,
    "1+" * 900 + "1",
    "not " * 400 + "True",
    "-" * 1000 + "1",
    "[" * 300 + "]" * 300,
    # plain failures
    "",
    "   ",
    "missing_name",
    "state.no_such_field",
    "state.customer.no_such_field",
    "state['amount']",
    "state.scores[99]",
    "1 / 0",
    "state.amount +",
    "'a' < 1",
]


@pytest.mark.parametrize("expression", HOSTILE)
def test_hostile_expressions_are_refused(
    evaluator: SimpleExpressionEvaluator, state: State, expression: str
) -> None:
    before = state.model_dump()
    with pytest.raises(ExpressionError) as info:
        evaluator.evaluate(expression, {"state": state})
    assert info.value.expression is not None
    assert state.model_dump() == before


def test_error_names_the_expression_and_chains_the_cause(
    evaluator: SimpleExpressionEvaluator, state: State
) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluator.evaluate("state.amount / 0", {"state": state})
    assert info.value.expression == "state.amount / 0"
    assert "state.amount / 0" in str(info.value)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_undefined_name_message(evaluator: SimpleExpressionEvaluator, state: State) -> None:
    with pytest.raises(ExpressionError, match="name 'stat' is not defined"):
        evaluator.evaluate("stat.amount > 1", {"state": state})


def test_missing_attribute_message(evaluator: SimpleExpressionEvaluator, state: State) -> None:
    with pytest.raises(ExpressionError, match="attribute 'amout' does not exist"):
        evaluator.evaluate("state.amout > 1", {"state": state})


def test_too_long_expression_is_refused_before_parsing(
    evaluator: SimpleExpressionEvaluator,
) -> None:
    with pytest.raises(ExpressionError, match="longer than the 2000 allowed"):
        evaluator.evaluate("1 + " * 10_000 + "1", {})


def test_non_string_expression_is_refused(evaluator: SimpleExpressionEvaluator) -> None:
    with pytest.raises(ExpressionError, match="must be a string"):
        evaluator.evaluate(42, {})  # type: ignore[arg-type]


def test_refusal_leaves_the_evaluator_usable(
    evaluator: SimpleExpressionEvaluator, state: State
) -> None:
    with pytest.raises(ExpressionError):
        evaluator.evaluate("[x for x in [1] * 10000 for y in [1] * 10000]", {"state": state})
    assert evaluator.evaluate("[s for s in state.scores][0]", {"state": state}) == 3


def test_evaluation_steps_are_bounded(evaluator: SimpleExpressionEvaluator) -> None:
    expression = "len([s + s + s + s + s + s + s + s + s + s + s for s in [1] * 9000 if s])"
    with pytest.raises(ExpressionError, match="steps"):
        evaluator.evaluate(expression, {})


def test_total_built_size_is_bounded(evaluator: SimpleExpressionEvaluator) -> None:
    with pytest.raises(ExpressionError, match="too large"):
        evaluator.evaluate("[[1] * 50000 for x in [1] * 100]", {})


def test_nested_evaluation_from_a_property_gets_its_own_evaluator() -> None:
    evaluator = SimpleExpressionEvaluator()

    class Reentrant(BaseModel):
        x: int = 2

        @property
        def doubled(self) -> int:
            return int(evaluator.evaluate("inner.x * 2", {"inner": self}))

    outer = Reentrant()
    assert evaluator.evaluate("state.doubled + state.x", {"state": outer}) == 6


# --- each guard layer on its own ----------------------------------------------------------------
# The evaluator refuses in two layers: the static check of the parsed tree (``simple._parse``)
# and the guarded evaluation (``simple._GuardedEval`` with the bounded operators and functions
# of ``bounded.py``). Most hostile expressions are stopped by both, so a test through
# ``evaluate`` alone can not tell when one layer is gone: these call each layer directly and
# check which refusal it gives.

_NO_METHODS = (
    "only calls of len, abs, min, max, round, int, float, str, bool, sum, any, all are allowed, "
    "not method calls"
)

STATIC_REFUSALS: list[tuple[str, str]] = [
    ("().__class__", "access to attribute '__class__' is not allowed"),
    ("state.__dict__", "access to attribute '__dict__' is not allowed"),
    ("state.func_globals", "access to attribute 'func_globals' is not allowed"),
    ("state.model_dump", "access to attribute 'model_dump' is not allowed"),
    ("'{0}'.format(1)", _NO_METHODS),
    ("state.scores.append(1)", _NO_METHODS),
    ("open('/etc/passwd')", "function 'open' is not allowed"),
    ("getattr(state, 'amount')", "function 'getattr' is not allowed"),
    ("__import__", "name '__import__' is not allowed"),
    ("lambda: 1", "Lambda is not allowed"),
    ("f'{1:999999999}'", "JoinedStr is not allowed"),
    ("(x := 1)", "NamedExpr is not allowed"),
    ("{x for x in [1]}", "SetComp is not allowed"),
    ("[x async for x in state.scores]", "async comprehensions are not allowed"),
    ("not " * 100 + "True", "expression is nested deeper than 64 levels"),
]


@pytest.mark.parametrize(("expression", "message"), STATIC_REFUSALS)
def test_static_layer_refuses_without_evaluating(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        simple._parse(expression)
    assert str(info.value) == f"{message} in expression {expression!r}"


def test_static_layer_refuses_empty_invalid_and_long_text() -> None:
    with pytest.raises(ExpressionError) as info:
        simple._parse("   ")
    assert str(info.value) == "expression is empty in expression '   '"
    with pytest.raises(ExpressionError, match=r"^invalid syntax: ") as info:
        simple._parse("state.amount +")
    assert isinstance(info.value.__cause__, SyntaxError)
    with pytest.raises(ExpressionError, match="2001 characters long, longer than the 2000") as info:
        simple._parse("x" * 2001)
    assert info.value.expression == "x" * 80 + "..."


def test_static_limits_hold_exactly_at_their_bounds() -> None:
    assert isinstance(simple._parse("1" + " " * 1999), ast.Constant)  # 2,000 characters
    assert isinstance(simple._parse("not " * 63 + "True"), ast.UnaryOp)  # 64 levels deep
    with pytest.raises(ExpressionError, match="nested deeper than 64 levels"):
        simple._parse("not " * 64 + "True")


def test_static_layer_names_the_expression_and_chains_the_check() -> None:
    with pytest.raises(ExpressionError) as info:
        simple._parse("state.__dict__")
    assert info.value.expression == "state.__dict__"
    assert isinstance(info.value.__cause__, FeatureNotAvailable)


@pytest.mark.parametrize(
    "expression",
    [
        "state.amount > 1000 and state.country in ['DE', 'FR']",
        "state._token",
        "9**9**9",
        "state.data.items",
    ],
)
def test_static_layer_passes_what_only_evaluation_can_judge(expression: str) -> None:
    assert isinstance(simple._parse(expression), ast.expr)


def _evaluate_unchecked(expression: str, names: dict[str, Any]) -> Any:
    """The guarded evaluation alone: the tree goes in without the static check."""
    tree = ast.parse(expression, mode="eval").body
    return simple._GuardedEval(names).eval(expression, previously_parsed=tree)


class _Holder:
    _token = "secret"
    data: ClassVar[dict[str, int]] = {"_key": 1, "visible": 2}

    def method(self) -> int:
        return 1


_DATA_ONLY = (
    "is not allowed as a value: expressions read data, they can not reach functions, methods, "
    "classes or modules"
)

RUNTIME_REFUSALS: list[tuple[str, type[Exception], str]] = [
    ("obj._token", FeatureNotAvailable, "access to attribute '_token' is not allowed"),
    ("obj.__class__", FeatureNotAvailable, "access to attribute '__class__' is not allowed"),
    ("obj.format", FeatureNotAvailable, "access to attribute 'format' is not allowed"),
    ("obj.method", FeatureNotAvailable, f"a method {_DATA_ONLY}"),
    ("obj.data.items", FeatureNotAvailable, f"a builtin_function_or_method {_DATA_ONLY}"),
    (
        "obj.method()",
        FunctionNotDefined,
        "Function 'obj.method' not defined, for expression 'obj.method()'.",
    ),
    (
        "open('/etc/passwd')",
        FunctionNotDefined,
        "Function 'open' not defined, for expression 'open('/etc/passwd')'.",
    ),
    ("__import__", FeatureNotAvailable, "name '__import__' is not allowed"),
    ("f'{1:999999999}'", FeatureNotAvailable, "JoinedStr is not allowed"),
    ("9**9**9", NumberTooHigh, "9 ** 387420489 would exceed 10000 bits"),
    ("(2 ** 6000) * (2 ** 6000)", NumberTooHigh, "the product would exceed 10000 bits"),
    ("(1 << 10000) << 10000", NumberTooHigh, "1 << 10000 would exceed 10000 bits"),
    ("'a' * 10**9", IterableTooLong, "repeating a sequence 1000000000 times is too large"),
    ("'a' * 60000 + 'b' * 60000", IterableTooLong, "concatenating those sequences is too large"),
    ("'%999999999s' % 1", FeatureNotAvailable, "%-formatting of strings is not allowed"),
    ("round(1, -10**9)", NumberTooHigh, "round() ndigits must be an integer within +-100"),
    ("int('9' * 5000)", NumberTooHigh, "int() of text longer than 4300 characters"),
    ("sum([[1]], [])", FeatureNotAvailable, "sum() only adds numbers"),
    (
        "[[1] * 50000 for x in [1] * 100]",
        IterableTooLong,
        "the expression builds values that are too large "
        "(more than 100000 per value or 500000 in total)",
    ),
    (
        "len([s + s + s + s + s + s + s + s + s + s + s for s in [1] * 9000 if s])",
        IterableTooLong,
        "evaluation takes more than 100000 steps",
    ),
]


@pytest.mark.parametrize(("expression", "error", "message"), RUNTIME_REFUSALS)
def test_evaluation_layer_refuses_without_the_static_check(
    expression: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        _evaluate_unchecked(expression, {"obj": _Holder()})
    assert str(info.value) == message


def test_evaluation_layer_still_reads_data() -> None:
    names = {"obj": _Holder()}
    assert _evaluate_unchecked("obj.data['visible'] + obj.data._key", names) == 3


# Expressions that pass the static check: only the guarded evaluation stops them, and the
# message says which of its guards did.
ONLY_EVALUATION_STOPS: list[tuple[str, str]] = [
    ("state._token", "access to attribute '_token' is not allowed"),
    ("state.data.items", "a builtin_function_or_method is not allowed as a value"),
    ("{}.get", "a builtin_function_or_method is not allowed as a value"),
    ("9**9**9", "9 ** 387420489 would exceed 10000 bits"),
    ("'a' * 10**9", "repeating a sequence 1000000000 times is too large"),
    ("round(1, -10**9)", "round() ndigits must be an integer within +-100"),
]


@pytest.mark.parametrize(("expression", "message"), ONLY_EVALUATION_STOPS)
def test_payloads_only_the_evaluation_layer_stops(
    evaluator: SimpleExpressionEvaluator, state: State, expression: str, message: str
) -> None:
    simple._parse(expression)  # the static layer lets it through
    with pytest.raises(ExpressionError, match=re.escape(message)):
        evaluator.evaluate(expression, {"state": state})


def test_step_budget_holds_exactly_at_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simple, "MAX_STEPS", 3)
    assert _evaluate_unchecked("1 + 2", {}) == 3  # three nodes: the sum and its two operands
    with pytest.raises(IterableTooLong, match=r"^evaluation takes more than 3 steps$"):
        _evaluate_unchecked("1 + 2 + 3", {})


def test_value_and_total_size_hold_exactly_at_their_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(simple, "MAX_VALUE_SIZE", 4)
    assert _evaluate_unchecked("[1, 2, 3]", {}) == [1, 2, 3]  # size 4: the list and 3 items
    with pytest.raises(IterableTooLong, match=r"more than 4 per value"):
        _evaluate_unchecked("[1, 2, 3, 4]", {})
    monkeypatch.setattr(simple, "MAX_VALUE_SIZE", 100)
    monkeypatch.setattr(simple, "MAX_BUILT_SIZE", 9)
    # [1, 2] (3) + [3] (2) + their sum [1, 2, 3] (4): 9 in all
    assert _evaluate_unchecked("[1, 2] + [3]", {}) == [1, 2, 3]
    monkeypatch.setattr(simple, "MAX_BUILT_SIZE", 8)
    with pytest.raises(IterableTooLong, match=r"or 8 in total"):
        _evaluate_unchecked("[1, 2] + [3]", {})


def test_evaluation_errors_carry_the_expression() -> None:
    with pytest.raises(NameNotDefined) as name_info:
        _evaluate_unchecked("missing", {})
    assert name_info.value.expression == "missing"
    with pytest.raises(AttributeDoesNotExist) as attr_info:
        _evaluate_unchecked("obj.nope", {"obj": _Holder()})
    assert (attr_info.value.attr, attr_info.value.expression) == ("nope", "obj.nope")
    with pytest.raises(FunctionNotDefined) as call_info:
        _evaluate_unchecked("obj.method()", {"obj": _Holder()})
    assert (call_info.value.func_name, call_info.value.expression) == (
        "obj.method",
        "obj.method()",
    )


def test_public_errors_chain_a_cause_that_names_the_expression(
    evaluator: SimpleExpressionEvaluator,
) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluator.evaluate("missing > 1", {})
    assert str(info.value) == "name 'missing' is not defined in expression 'missing > 1'"
    assert isinstance(info.value.__cause__, NameNotDefined)
    assert info.value.__cause__.expression == "missing > 1"
    with pytest.raises(ExpressionError) as info:
        evaluator.evaluate("1 / 0", {})
    assert str(info.value) == (
        "evaluation failed with ZeroDivisionError: division by zero in expression '1 / 0'"
    )
    with pytest.raises(ExpressionError) as info:
        evaluator.evaluate(42, {})  # type: ignore[arg-type]
    assert str(info.value) == "an expression must be a string, not int"


def test_each_thread_reuses_one_guarded_evaluator_that_keeps_no_names(
    state: State,
) -> None:
    evaluator = SimpleExpressionEvaluator()
    evaluator.evaluate("state.amount", {"state": state})
    first = evaluator._local.evaluator
    assert isinstance(first, simple._GuardedEval)
    assert first.names == {}  # the state is not kept alive between evaluations
    evaluator.evaluate("state.country", {"state": state})
    assert evaluator._local.evaluator is first


def test_nested_evaluation_while_the_thread_evaluator_is_in_use() -> None:
    evaluator = SimpleExpressionEvaluator()
    evaluator.evaluate("1", {})  # the thread's evaluator exists and will be taken below

    class Reentrant(BaseModel):
        x: int = 2

        @property
        def doubled(self) -> int:
            return int(evaluator.evaluate("inner.x * 2", {"inner": self}))

    assert evaluator.evaluate("state.doubled + state.x", {"state": Reentrant()}) == 6


def test_parse_cache_is_bounded() -> None:
    evaluator = SimpleExpressionEvaluator()
    for i in range(PARSE_CACHE_SIZE + 10):
        evaluator.evaluate(f"{i} + 1", {})
    assert evaluator._parse.cache_info().currsize == PARSE_CACHE_SIZE  # type: ignore[attr-defined]
