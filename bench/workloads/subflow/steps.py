"""State and step functions for bench/subworkflow.py: a parent that hands each of its items to
a child workflow of two tiny steps, or does the same two steps inline."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Parent(BaseModel):
    items: list[int] = []
    count: int = 0
    sub_workflow_results: dict[str, Any] = {}


class BareParent(BaseModel):
    """Without ``sub_workflow_results``: the children's outcomes stay in the step records."""

    items: list[int] = []
    count: int = 0


class Child(BaseModel):
    n: int = 0
    count: int = 0


def work(state: Any, context: Any, **_: Any) -> dict[str, Any]:
    return {"count": state.count + 1}
