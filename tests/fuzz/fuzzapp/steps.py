"""The one forward function and the one compensation function of every fuzzed step.

Each reads its step's entry of the plan (``state.plan``, JSON; see ``fuzz_model``):

- ``fails``: attempts 1..fails raise ``exc`` (``Transient`` or ``Fatal``), after changing the
  state in place (a compensation only with ``dirty``): none of those changes may survive;
- then the attempt that does not raise optionally changes the state in place (``mutate``) and
  ends as ``ending`` says: ``return`` the result, ``pause`` (a ``WorkflowPauseDirective``
  carrying the result), ``bad`` (a result that does not fit the state model) or ``corrupt``
  (break a field in place, then return the result);
- a compensation appends ``<step><keys of context.forward_result>`` to ``undone`` when it
  mutates, so the journal's link to the forward result is checked through the state.

Attempts are told apart by ``context.attempt`` only, so the behaviour is the same in any
process, after any crash. ``HOOK`` (set by the kill driver) is called at ``<kind>:before``
(first thing) and ``<kind>:mid`` (after the in-place changes, before returning or raising).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter

from fuzzapp.models import FuzzState
from ruvon.models import StepContext, WorkflowPauseDirective

HOOK: Callable[[str, str], None] | None = None


class Transient(Exception):
    """A failure the generated ``retry_on`` may accept."""


class Fatal(Exception):
    """A failure only an empty ``retry_on`` (retry everything) retries."""


EXCEPTIONS: dict[str, type[Exception]] = {"Transient": Transient, "Fatal": Fatal}
BAD_VALUE = "not a number"  # for ``count``: a result that does not fit the model
CORRUPT_VALUE = "corrupt"  # put into ``count`` in place: a state that does not fit the model

_ADAPTERS = {name: TypeAdapter(info.annotation) for name, info in FuzzState.model_fields.items()}


@functools.lru_cache(maxsize=256)
def _plan(text: str) -> dict[str, Any]:
    return json.loads(text)  # type: ignore[no-any-return]


def decode(plan: dict[str, Any]) -> dict[str, Any]:
    """The result a plan describes (JSON) as the values a step returns: typed (``Decimal``,
    ``set``, ``datetime``, ``Inner``) unless ``json_values``; with ``inner_as_dict`` the nested
    model as a plain dict."""
    out: dict[str, Any] = {}
    for key, value in plan["result"].items():
        typed = not plan["json_values"] and not (key == "inner" and plan["inner_as_dict"])
        out[key] = _ADAPTERS[key].validate_python(value) if typed else value
    return out


def _hook(point: str, context: StepContext) -> None:
    if HOOK is not None:
        HOOK(point, context.workflow_id)


def _finish(plan: dict[str, Any], state: FuzzState) -> dict[str, Any]:
    result = decode(plan)
    ending = plan["ending"]
    if ending == "pause":
        raise WorkflowPauseDirective(result=result)
    if ending == "bad":
        return {**result, "count": BAD_VALUE}
    if ending == "corrupt":
        state.count = CORRUPT_VALUE  # type: ignore[assignment]
        result.pop("count", None)
    return result


def forward(state: FuzzState, context: StepContext, **user_input: Any) -> dict[str, Any]:
    name, attempt = context.step_name, context.attempt
    plan = _plan(state.plan)["steps"][name]
    _hook("fwd:before", context)
    if attempt <= plan["fails"]:
        state.trail.append(f"{name}!{attempt}")
        state.count += 100
        state.tags.add("dirty")
        state.inner.label = "dirty"
        _hook("fwd:mid", context)
        raise EXCEPTIONS[plan["exc"]](f"{name} attempt {attempt}")
    if plan["mutate"]:
        state.trail.append(name)
        state.inner.weight += 1
        state.tags.add(name)
    _hook("fwd:mid", context)
    return _finish(plan, state)


def compensate(state: FuzzState, context: StepContext, **user_input: Any) -> dict[str, Any]:
    name, attempt = context.step_name, context.attempt
    plan = _plan(state.plan)["steps"][name]["comp"]
    _hook("comp:before", context)
    if attempt <= plan["fails"]:
        if plan["dirty"]:
            state.undone.append(f"{name}!{attempt}")
            state.count -= 1000
            state.tags.add("dirty-comp")
            state.inner.label = "dirty-comp"
        _hook("comp:mid", context)
        raise EXCEPTIONS[plan["exc"]](f"undo {name} attempt {attempt}")
    if plan["mutate"]:
        keys = ",".join(sorted(context.forward_result or {}))
        state.undone.append(f"{name}<{keys}>")
    _hook("comp:mid", context)
    return _finish(plan, state)
