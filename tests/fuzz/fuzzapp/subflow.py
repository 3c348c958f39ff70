"""The state and the functions of the fuzzed workflow trees (``test_fuzz_subworkflow.py``).

Every workflow of a generated tree (the parent, its children, a grandchild) has the state
:class:`TreeState`; its ``plan`` (the same JSON for the whole tree, handed down to each child
in its initial data) says what each step's function does, keyed by ``<workflow type>.<step>``:

- :func:`forward` raises ``Transient`` on its attempts ``1..fails`` (after changing the state
  in place: none of it may survive), then appends its key to ``log`` and returns ``{"x": x}``;
- :func:`start_child` raises the same way, then (with ``mutate``) appends its key to ``log``
  and raises ``StartSubWorkflowDirective`` for the child type the plan names, with the plan as
  its initial data;
- :func:`compensate` raises on its attempts ``1..fails`` (after changing the state in place),
  then appends its key to ``undone`` and returns ``{"x": x}``.

``TRACE`` lists every call, in order, across all the workflows of the tree (``<key>``, or
``<key>!<attempt>`` for a failed attempt; compensations ``undo <key>``); ``SEEN`` maps each
workflow type that ran a function to the id of its workflow (a type is used once per tree).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel

from ruvon.models import StartSubWorkflowDirective, StepContext

TRACE: list[str] = []
SEEN: dict[str, str] = {}


class TreeState(BaseModel):
    plan: str = "{}"
    x: int = 0
    log: list[str] = []
    undone: list[str] = []
    sub_workflow_results: dict[str, Any] = {}


class Transient(Exception):
    """The failure every generated function raises."""


@functools.lru_cache(maxsize=256)
def _plan(text: str) -> dict[str, Any]:
    return json.loads(text)  # type: ignore[no-any-return]


def _entry(state: TreeState, context: StepContext) -> tuple[str, dict[str, Any]]:
    SEEN[context.workflow_type] = context.workflow_id
    key = f"{context.workflow_type}.{context.step_name}"
    return key, _plan(state.plan)[key]


def _attempt(state: TreeState, key: str, fails: int, attempt: int, undo: bool = False) -> None:
    if attempt <= fails:
        TRACE.append(f"{'undo ' if undo else ''}{key}!{attempt}")
        state.x += 1000
        (state.undone if undo else state.log).append(f"{key}!{attempt}")
        raise Transient(f"{key} attempt {attempt}")


def forward(state: TreeState, context: StepContext) -> dict[str, Any]:
    key, plan = _entry(state, context)
    _attempt(state, key, plan["fails"], context.attempt)
    TRACE.append(key)
    state.log.append(key)
    return {"x": plan["x"]}


def start_child(state: TreeState, context: StepContext) -> dict[str, Any]:
    key, plan = _entry(state, context)
    _attempt(state, key, plan["fails"], context.attempt)
    TRACE.append(key)
    if plan.get("mutate"):
        state.log.append(key)  # in place, before the child starts
    raise StartSubWorkflowDirective(plan["child"], {"plan": state.plan})


def compensate(state: TreeState, context: StepContext) -> dict[str, Any]:
    key, plan = _entry(state, context)
    undo = plan["undo"]
    _attempt(state, key, undo["fails"], context.attempt, undo=True)
    TRACE.append(f"undo {key}")
    state.undone.append(key)
    return {"x": undo["x"]}
