"""The state and the functions of the fuzzed PARALLEL workflows (``test_fuzz_parallel.py``).

What each function does is read from ``state.plan`` (JSON): ``tasks`` by task name (a fan-out's
by index), ``undo`` likewise, ``steps`` for the STANDARD steps around the PARALLEL one.

- :func:`task` / :func:`task_async` (a PARALLEL task): on its attempts ``1..fails`` it changes
  its state in place and raises ``Transient``; then it appends to its own ``log`` (a task works
  on a copy: neither change may reach the live state) and returns ``result``. A fan-out task
  first checks that its item keyword, ``context.loop_item`` and ``state.items[loop_index]``
  agree (``WrongItem`` otherwise: no model expects it). With ``state.fixed`` (set by the
  operator before ``retry()``) nothing fails.
- :func:`undo` (a task's compensation): raises on its attempts ``1..fails`` after changing the
  state in place; then appends ``<scope>|<loop_index>|<loop_item>|<keys of forward_result>`` to
  ``undone``.

``CONCURRENCY`` counts the tasks running at once (the most, since the test last reset it).
- :func:`step` / :func:`unstep`: the STANDARD steps ``Before`` and ``After`` and their
  compensations, the same way (``After`` sets ``mark``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from ruvon.models import ScopePath, StepContext


class ParState(BaseModel):
    plan: str = "{}"
    items: list[int] = []
    a: Any = None
    b: Any = None
    c: Any = None
    mark: int = 0
    fixed: bool = False  # the operator fixed the cause: nothing fails any more
    log: list[str] = []
    undone: list[str] = []


# how many tasks run at once now, and the most seen (reset by the test for each workflow)
CONCURRENCY = {"now": 0, "max": 0}
_LOCK = threading.Lock()


@contextmanager
def _running() -> Iterator[None]:
    with _LOCK:
        CONCURRENCY["now"] += 1
        CONCURRENCY["max"] = max(CONCURRENCY["max"], CONCURRENCY["now"])
    try:
        yield
    finally:
        with _LOCK:
            CONCURRENCY["now"] -= 1


class Transient(Exception):
    """The failure every generated function raises."""


class WrongItem(Exception):
    """A fan-out task got an item that is not its own: a bug, never expected by the model."""


@functools.lru_cache(maxsize=256)
def _plan(text: str) -> dict[str, Any]:
    return json.loads(text)  # type: ignore[no-any-return]


def task_name(context: StepContext) -> str:
    """The task's name, from its scope path (``Par/task:a%2Fb`` -> ``a/b``)."""
    return ScopePath.parse(context.scope).segments[-1].partition(":")[2]


def _check_item(state: ParState, context: StepContext, kwargs: dict[str, Any]) -> None:
    plan = _plan(state.plan)
    if plan["fan_out"] is None:
        if context.loop_index is not None or kwargs:
            raise WrongItem(f"a static task got {context.loop_index} {kwargs}")
        return
    index = context.loop_index
    if index is None or not 0 <= index < len(state.items):
        raise WrongItem(f"index {index} of {state.items}")
    want = state.items[index]
    if context.loop_item != want or context.scope != f"Par/task:{index}":
        raise WrongItem(f"{context.scope}: loop_item {context.loop_item!r}, expected {want!r}")
    var = plan["fan_out"]
    if kwargs != {var: want}:
        raise WrongItem(f"{context.scope}: keywords {kwargs!r}, expected {var}={want!r}")


def _task(state: ParState, context: StepContext, kwargs: dict[str, Any]) -> dict[str, Any]:
    _check_item(state, context, kwargs)
    entry = _plan(state.plan)["tasks"][task_name(context)]
    if not state.fixed and context.attempt <= entry["fails"]:
        state.log.append(f"{context.scope}!{context.attempt}")
        state.a = "changed in place by a failed attempt"
        raise Transient(f"{context.scope} attempt {context.attempt}")
    state.log.append(context.scope)  # on the task's own copy: never seen
    state.mark = -1
    result: dict[str, Any] = json.loads(json.dumps(entry["result"]))
    return result


def task(state: ParState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    entry = _plan(state.plan)["tasks"][task_name(context)]
    with _running():
        if entry["sleep"]:
            time.sleep(entry["sleep"])  # lets threads finish in another order
        return _task(state, context, kwargs)


async def task_async(state: ParState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    entry = _plan(state.plan)["tasks"][task_name(context)]
    with _running():
        await asyncio.sleep(entry["sleep"])
        return _task(state, context, kwargs)


def undo(state: ParState, context: StepContext) -> dict[str, Any]:
    plan = _plan(state.plan)["undo"][task_name(context)]
    if context.attempt <= plan["fails"]:
        state.undone.append(f"{context.scope}!{context.attempt}")
        state.mark += 1000
        raise Transient(f"undo {context.scope} attempt {context.attempt}")
    keys = ",".join(sorted(context.forward_result or {}))
    state.undone.append(f"{context.scope}|{context.loop_index}|{context.loop_item}|{keys}")
    return {}


def step(state: ParState, context: StepContext) -> dict[str, Any]:
    plan = _plan(state.plan)["steps"][context.step_name]
    if not state.fixed and context.attempt <= plan["fails"]:
        state.log.append(f"{context.step_name}!{context.attempt}")
        raise Transient(f"{context.step_name} attempt {context.attempt}")
    state.log.append(context.step_name)
    return {"mark": plan["mark"]}


def unstep(state: ParState, context: StepContext) -> dict[str, Any]:
    plan = _plan(state.plan)["steps"][context.step_name]
    if context.attempt <= plan["undo_fails"]:
        state.undone.append(f"{context.step_name}!{context.attempt}")
        raise Transient(f"undo {context.step_name} attempt {context.attempt}")
    state.undone.append(context.step_name)
    return {}
