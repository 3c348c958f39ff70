"""The evaluator's size budget counts what a pydantic model holds, not one element per model."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from pydantic import BaseModel

from ruvon.errors import ExpressionError
from ruvon.implementations.expression_evaluator.bounded import size_of
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator


class Note(BaseModel):
    text: str
    tags: list[str] = []


def test_size_of__counts_the_fields_of_a_model() -> None:
    note = Note(text="x" * 1000, tags=["a", "b"])
    # the model, its text (1 + 1000), its list (1) and the list's two strings (2 + 2)
    assert size_of(note, 10**6) == 1 + 1001 + 1 + 4
    assert size_of([note] * 3, 10**6) > 3000


def test_repeating_a_large_model__refused_before_it_is_printed() -> None:
    # Before: [state] * 40000 counted 80,000, under the limit, and str() built 400 MB.
    evaluator = SimpleExpressionEvaluator()
    names = {"state": Note(text="x" * 10_000)}
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ExpressionError, match="repeating a sequence 40000 times is too large"):
            evaluator.evaluate("len(str([state] * 40000))", names)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 10 * 2**20
