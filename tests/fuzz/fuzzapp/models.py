"""The state of a fuzzed workflow: fields of several types, each of which must survive a store."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel


class Inner(BaseModel):
    """A nested model, changed both by results and in place."""

    label: str = ""
    weight: int = 0


class FuzzState(BaseModel):
    plan: str = "{}"  # the JSON of the workflow's plan (see fuzz_model.Plan); never changed
    count: int = 0
    text: str = ""
    items: list[str] = []
    amount: Decimal = Decimal("0")
    inner: Inner = Inner()
    tags: set[str] = set()
    stamp: datetime | None = None
    trail: list[str] = []  # appended in place by forward attempts
    undone: list[str] = []  # appended in place by compensation attempts
