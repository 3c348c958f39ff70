"""The evaluator's ``_`` rule guards attributes of objects; a mapping's keys are data.

Every path to a key that starts with ``_`` gives the same answer as for any other key, and
private attributes of objects stay refused on every path.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from pydantic import BaseModel

from ruvon.errors import ExpressionError
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator


class Meta(BaseModel):
    label: str = "plain"
    _token: str = "secret"


class State(BaseModel):
    meta: dict[str, Any]
    model: Meta = Meta()


@pytest.fixture
def names() -> dict[str, Any]:
    return {"state": State(meta={"_trace": "t-1", "__dunder": 2, "visible": "v"})}


@pytest.fixture(scope="module")
def evaluator() -> SimpleExpressionEvaluator:
    return SimpleExpressionEvaluator()


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # each path to the key '_trace'
        ("state.meta['_trace']", "t-1"),
        ("state.meta._trace", "t-1"),
        ("{**state.meta}['_trace']", "t-1"),
        ("'_trace' in state.meta", True),
        ("'_trace' not in state.meta", False),
        ("[k for k in state.meta if k == '_trace']", ["_trace"]),
        ("[state.meta[k] for k in state.meta if k == '_trace']", ["t-1"]),
    ],
)
def test_key_starting_with_underscore__every_path_reads_it(
    evaluator: SimpleExpressionEvaluator, names: dict[str, Any], expression: str, expected: Any
) -> None:
    assert evaluator.evaluate(expression, names) == expected


@pytest.mark.parametrize("key", ["_trace", "visible"])
@pytest.mark.parametrize(
    "template",
    ["state.meta.get('{key}')", "state.meta.items()", "state.meta.keys()", "state.meta.values()"],
)
def test_mapping_methods__refused_alike_for_every_key(
    evaluator: SimpleExpressionEvaluator, names: dict[str, Any], template: str, key: str
) -> None:
    with pytest.raises(ExpressionError, match="not method calls"):
        evaluator.evaluate(template.format(key=key), names)


def test_iteration_and_unpacking__show_every_key(
    evaluator: SimpleExpressionEvaluator, names: dict[str, Any]
) -> None:
    expected = ["__dunder", "_trace", "visible"]
    assert sorted(evaluator.evaluate("[k for k in state.meta]", names)) == expected
    assert sorted(evaluator.evaluate("[*state.meta]", names)) == expected
    assert evaluator.evaluate("{**state.meta}", names) == names["state"].meta
    assert evaluator.evaluate("len(state.meta)", names) == 3


def test_key_starting_with_two_underscores__read_by_subscript_only(
    evaluator: SimpleExpressionEvaluator, names: dict[str, Any]
) -> None:
    # '__' names are Python's special names: refused as attribute names on every object,
    # before evaluation. The key itself is data, and a subscript reads it.
    assert evaluator.evaluate("state.meta['__dunder']", names) == 2
    assert evaluator.evaluate("'__dunder' in state.meta", names) is True
    with pytest.raises(ExpressionError, match="attribute '__dunder' is not allowed"):
        evaluator.evaluate("state.meta.__dunder", names)


@pytest.mark.parametrize(
    "expression",
    ["state.model._token", "state._token", "state.meta._missing", "state.meta.__class__"],
)
def test_private_attributes_of_objects__still_refused(
    evaluator: SimpleExpressionEvaluator, names: dict[str, Any], expression: str
) -> None:
    with pytest.raises(ExpressionError, match="is not allowed"):
        evaluator.evaluate(expression, names)


def test_absent_underscore_key__does_not_grow_a_defaultdict(
    evaluator: SimpleExpressionEvaluator,
) -> None:
    meta: defaultdict[str, int] = defaultdict(int, {"_seen": 1})
    assert evaluator.evaluate("m._seen + m['_seen']", {"m": meta}) == 2
    with pytest.raises(ExpressionError, match="attribute '_other' is not allowed"):
        evaluator.evaluate("m._other", {"m": meta})
    assert dict(meta) == {"_seen": 1}
