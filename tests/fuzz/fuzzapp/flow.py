"""The state and the two functions of the fuzzed control-flow workflows (``flow_plan``).

Every step and compensation of a generated workflow runs :func:`forward` or :func:`compensate`;
what each does is read from its entry of the plan in ``state.plan`` (JSON, keyed by step name):

- ``forward`` counts its earlier successful runs (``visit``: entries ``<name>@...`` in
  ``state.log``); on the visit ``fail_visit`` its attempts ``1..fails`` change the state in place
  and raise ``Transient`` (none of those changes may survive). Otherwise it appends
  ``<name>@<loop_index>:<loop_item>|<keywords>`` to ``log`` (so the context and the item keyword
  are checked through the state) and returns ``sets`` (plus ``n = n + 1`` with ``bump``); with
  ``jump`` and ``n < below`` it raises ``WorkflowJumpDirective`` carrying that result instead.
- ``compensate`` raises on attempts ``1..fails`` (after changing the state in place); then, with
  ``mutate``, appends ``<name>@<loop_index>:<loop_item><<keys of forward_result>>`` to
  ``undone``, and returns ``sets``.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext, WorkflowJumpDirective


class FlowState(BaseModel):
    plan: str = "{}"  # the JSON of the workflow's plan; never changed
    n: int = 0  # only ever grows (bumps): guards every backward jump, counts WHILE loops
    x: int = 0
    y: int = 0
    tag: str = ""
    items: list[int] = []
    more: list[int] = []
    log: list[str] = []  # appended in place by every successful forward attempt
    undone: list[str] = []  # appended in place by compensations
    loop_results: list[dict[str, Any]] | None = None
    loop_iterations: int | None = None


class Transient(Exception):
    """The failure every generated step and compensation raises."""


@functools.lru_cache(maxsize=256)
def _plan(text: str) -> dict[str, Any]:
    return json.loads(text)  # type: ignore[no-any-return]


def keywords(kwargs: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(kwargs.items()))


def forward(state: FlowState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    name, attempt = context.step_name, context.attempt
    plan = _plan(state.plan)["steps"][name]
    visit = sum(1 for entry in state.log if entry.startswith(f"{name}@"))
    if visit == plan["fail_visit"] and attempt <= plan["fails"]:
        state.log.append(f"{name}!{attempt}")
        state.n += 100
        state.items.append(-1)
        raise Transient(f"{name} visit {visit} attempt {attempt}")
    state.log.append(f"{name}@{context.loop_index}:{context.loop_item}|{keywords(kwargs)}")
    result = dict(plan["sets"])
    if plan["bump"]:
        result["n"] = state.n + 1
    jump = plan["jump"]
    if jump is not None and state.n < jump["below"]:
        raise WorkflowJumpDirective(jump["target"], result=result)
    return result


def compensate(state: FlowState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    name, attempt = context.step_name, context.attempt
    plan = _plan(state.plan)["steps"][name]["undo"]
    if attempt <= plan["fails"]:
        state.undone.append(f"{name}!{attempt}")
        state.x -= 1000
        raise Transient(f"undo {name} attempt {attempt}")
    if plan["mutate"]:
        keys = ",".join(sorted(context.forward_result or {}))
        state.undone.append(f"{name}@{context.loop_index}:{context.loop_item}<{keys}>")
    return dict(plan["sets"])
