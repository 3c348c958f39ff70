"""Importable state models and step functions for the regression tests of issue 8.

Used by ``tests/unit/test_hardening.py`` and ``tests/contract/test_hardening_on_stores.py``.
Step behaviour that a test must choose at run time (the values a step returns, how often it
fails before it succeeds) is set through the module-level ``PAYLOAD`` and ``CALLS``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, NaiveDatetime

from ruvon.models import StepContext, WorkflowJumpDirective, WorkflowPauseDirective

#: what ``emit`` returns (set by the test before the step runs)
PAYLOAD: dict[str, Any] = {}
#: calls per (workflow id, step name), counted before the function does anything else
CALLS: Counter[tuple[str, str]] = Counter()
#: the dicts ``returns_kept_dict`` returned, so a test can change them after the step
RETURNED: list[dict[str, Any]] = []


def defn(
    *steps: dict[str, Any],
    model: str = "hardening_steps.Box",
    saga: bool = False,
    wf_type: str = "T",
) -> dict[str, Any]:
    """A definition mapping for ``WorkflowBuilder(workflow_registry={...})``."""
    return {
        "workflow_type": wf_type,
        "workflow_version": "1",
        "initial_state_model": model,
        "saga_mode": saga,
        "steps": list(steps),
    }


def step(name: str, fn: str, **keys: Any) -> dict[str, Any]:
    """One step mapping, automated so that one ``next_step()`` runs the chain."""
    return {"name": name, "function": f"hardening_steps.{fn}", "automate_next": True, **keys}


def _count(context: StepContext) -> int:
    """Count this call; a compensation counts under ``undo:<step>``."""
    key = (context.workflow_id, ("undo:" if context.is_compensation else "") + context.step_name)
    CALLS[key] += 1
    return CALLS[key]


# --- a state model with every kind of field a step may return -------------------------------


class Color(StrEnum):
    RED = "red"
    GREEN = "green"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


class Inner(BaseModel):
    label: str = ""
    tags: set[str] = set()
    amount: Decimal = Decimal(0)


class Rich(BaseModel):
    """Bytes travel as base64 in JSON, so any bytes can be stored."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    inner: Inner | None = None
    inners: list[Inner] = []
    tags: set[int] = set()
    names: frozenset[str] = frozenset()
    amount: Decimal = Decimal(0)
    by_name: dict[str, Decimal] = {}
    ratio: float = 0.0
    naive: NaiveDatetime | None = None
    aware: AwareDatetime | None = None
    day: date | None = None
    uid: UUID | None = None
    color: Color | None = None
    level: Level | None = None
    blob: bytes = b""
    either: int | str = 0
    choice: Inner | list[int] | None = None
    maybe: str | None = None
    big: int = 0
    text: str = ""
    pair: tuple[int, str] = (0, "")


class Plain(BaseModel):
    """Bytes under pydantic's default JSON form (UTF-8 text): not every bytes value fits."""

    blob: bytes = b""
    n: int = 0


def emit(state: BaseModel, context: StepContext) -> dict[str, Any]:
    """Return the values the test put in ``PAYLOAD``."""
    return dict(PAYLOAD)


def touch(state: BaseModel, context: StepContext) -> dict[str, Any]:
    """Change nothing: the state goes through one more merge and commit."""
    _count(context)
    return {}


def count_up(state: Any, context: StepContext) -> dict[str, Any]:
    _count(context)
    return {"n": state.n + 1}


def returns_bad_bytes(state: Plain, context: StepContext) -> dict[str, Any]:
    return {"blob": b"\xff\xfe not UTF-8", "n": 99}


def sets_bad_bytes_in_place(state: Plain, context: StepContext) -> None:
    state.blob = b"\xff\xfe not UTF-8"
    state.n = 99


# --- a small state for the engine paths ------------------------------------------------------


class Box(BaseModel):
    items: list[str] = []
    n: int = 0
    note: str | None = None
    tags: list[str] = []


class Approval(BaseModel):
    approved: bool
    by: str


class Abort(BaseException):
    """Not an ``Exception``: like ``KeyboardInterrupt``, the engine must not swallow it."""


async def append_then_sleep(state: Box, context: StepContext) -> dict[str, Any]:
    """Changes the state in place, then sleeps for a long time on its first call only."""
    first = _count(context) == 1
    state.items.append(context.step_name)
    if first:
        await asyncio.sleep(30)
    return {"n": state.n + 1}


def append_then_abort(state: Box, context: StepContext) -> dict[str, Any]:
    """Changes the state in place, then raises a ``BaseException`` on its first call only."""
    first = _count(context) == 1
    state.items.append(context.step_name)
    if first:
        raise Abort("interrupted")
    return {"n": state.n + 1}


def plain(state: Box, context: StepContext) -> dict[str, Any]:
    _count(context)
    state.items.append(context.step_name)
    return {"n": state.n + 1}


def fails(state: Box, context: StepContext) -> dict[str, Any]:
    _count(context)
    raise RuntimeError(f"{context.step_name} failed")


def undo_then_fail(state: Box, context: StepContext) -> dict[str, Any]:
    """A compensation that changes the state in place, then fails."""
    _count(context)
    state.items.append(f"undo:{context.step_name}")
    state.n = -100
    raise RuntimeError(f"undo {context.step_name} failed")


async def undo_then_sleep(state: Box, context: StepContext) -> dict[str, Any]:
    """A compensation that changes the state in place, then sleeps on its first call only."""
    first = _count(context) == 1
    state.items.append(f"undo:{context.step_name}")
    if first:
        await asyncio.sleep(30)
    return {"n": state.n - 1}


def undo_then_abort(state: Box, context: StepContext) -> dict[str, Any]:
    """A compensation that changes the state in place, then raises ``Abort`` the first time."""
    first = _count(context) == 1
    state.items.append(f"undo:{context.step_name}")
    if first:
        raise Abort("interrupted")
    return {"n": state.n - 1}


async def raises_timeout_twice(state: Box, context: StepContext) -> dict[str, Any]:
    """Raises its own ``TimeoutError`` (a remote call timing out) on the first two calls."""
    if _count(context) <= 2:
        raise TimeoutError("the remote service did not answer")
    return {"note": f"answered on attempt {context.attempt}"}


async def own_wait_for_times_out(state: Box, context: StepContext) -> dict[str, Any]:
    """Times out a call of its own with ``asyncio.wait_for``, well inside the step's timeout."""
    _count(context)
    await asyncio.wait_for(asyncio.sleep(10), 0.01)
    return {}


async def sleeps_too_long(state: Box, context: StepContext) -> dict[str, Any]:
    _count(context)
    await asyncio.sleep(10)
    return {}


def flaky_then_pause(state: Box, context: StepContext) -> dict[str, Any]:
    """Fails its first attempt, then asks the workflow to pause (on attempt 2)."""
    if _count(context) == 1:
        raise RuntimeError("flaky")
    raise WorkflowPauseDirective(result={"note": f"paused on attempt {context.attempt}"})


def flaky_then_jump(state: Box, context: StepContext) -> dict[str, Any]:
    """Fails its first attempt, then jumps to the step named ``Last`` (on attempt 2)."""
    if _count(context) == 1:
        raise RuntimeError("flaky")
    raise WorkflowJumpDirective("Last", result={"note": f"jumped on attempt {context.attempt}"})


def pause(state: Box, context: StepContext) -> dict[str, Any]:
    _count(context)
    raise WorkflowPauseDirective(result={"note": "waiting"})


def takes_input(state: Box, context: StepContext, **user_input: Any) -> dict[str, Any]:
    _count(context)
    approval = context.validated_input
    return {"note": f"{approval.by}:{approval.approved}"}


def returns_kept_dict(state: Box, context: StepContext) -> dict[str, Any]:
    """Returns a dict it keeps a reference to (in ``RETURNED``)."""
    result: dict[str, Any] = {"tags": ["kept"], "n": state.n + 1}
    RETURNED.append(result)
    return result


def mutates_previous_result(state: Box, context: StepContext) -> dict[str, Any]:
    """Changes the previous step's result it was handed, and the dict that step returned."""
    previous = context.previous_step_result
    assert previous is not None
    previous["tags"].append("changed by the next step")
    previous["n"] = -1
    for kept in RETURNED:
        kept["tags"].append("changed after return")
        kept["n"] = -2
    return {"note": "mutated"}


class AsyncCallable:
    """An object whose ``__call__`` is ``async def``: usable as a step function."""

    async def __call__(self, state: Box, context: StepContext, **user_input: Any) -> dict[str, Any]:
        _count(context)
        await asyncio.sleep(0)
        return {"note": f"called {context.step_name}"}


callable_step = AsyncCallable()


def undo(state: Box, context: StepContext) -> dict[str, Any]:
    """A compensation that succeeds."""
    _count(context)
    state.items.append(f"undo:{context.step_name}")
    return {"n": state.n - 1}
