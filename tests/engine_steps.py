"""Importable step functions and models for the engine's unit tests.

Behaviour is driven by the state so that each test says what should happen in its data:
``fail_at`` names steps that raise, ``fail_comp`` compensations that raise, ``flaky`` how many
times a step raises before it succeeds (counted in ``ATTEMPTS`` per workflow and step).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ruvon.models import StepContext, WorkflowJumpDirective, WorkflowPauseDirective

ATTEMPTS: Counter[tuple[str, str]] = Counter()
CONTEXTS: list[StepContext] = []
INPUTS: list[tuple[str, dict[str, Any]]] = []  # (step name, user input) per call of records_input


class Flaky(Exception):
    pass


class Fatal(Exception):
    pass


class S(BaseModel):
    # a result key that is not a field fails the step (the default, extra="ignore", drops it)
    model_config = ConfigDict(extra="forbid")

    log: list[str] = []
    n: int = 0
    fail_at: list[str] = []
    fail_comp: list[str] = []
    flaky: dict[str, int] = {}
    fatal: bool = False
    note: str | None = None
    sleep: float = 0.0
    amount: float = Field(0.0, ge=0)


class Approval(BaseModel):
    approved: bool
    by: str


def _maybe_fail(state: S, context: StepContext) -> None:
    ATTEMPTS[(context.workflow_id, context.step_name)] += 1
    CONTEXTS.append(context)
    budget = state.flaky.get(context.step_name, 0)
    if ATTEMPTS[(context.workflow_id, context.step_name)] <= budget:
        raise (Fatal("fatal") if state.fatal else Flaky(f"flaky {context.step_name}"))
    if context.step_name in state.fail_at:
        raise RuntimeError(f"{context.step_name} failed")


def step(state: S, context: StepContext, **user_input: Any) -> dict[str, Any]:
    _maybe_fail(state, context)
    state.log.append(context.step_name)  # in-place mutation, must be kept
    return {"n": state.n + 1, **({"note": user_input["note"]} if "note" in user_input else {})}


async def async_step(state: S, context: StepContext, **user_input: Any) -> dict[str, Any]:
    await asyncio.sleep(state.sleep)
    _maybe_fail(state, context)
    state.log.append(context.step_name)
    return {"n": state.n + 1}


def undo(state: S, context: StepContext, **_: Any) -> dict[str, Any]:
    CONTEXTS.append(context)
    ATTEMPTS[(context.workflow_id, "undo:" + context.step_name)] += 1
    if context.step_name in state.fail_comp:
        raise RuntimeError(f"undo {context.step_name} failed")
    state.log.append("undo:" + context.step_name)
    return {"n": state.n - 1}


def bad_result(state: S, context: StepContext) -> dict[str, Any]:
    return {"amount": -5}


def unknown_key(state: S, context: StepContext) -> dict[str, Any]:
    return {"nope": 1}


def not_a_dict(state: S, context: StepContext) -> Any:
    return [1, 2]


def returns_none(state: S, context: StepContext) -> None:
    state.note = "set in place"


def jump_to_last(state: S, context: StepContext) -> dict[str, Any]:
    raise WorkflowJumpDirective("Last", result={"note": "jumped"})


def pause(state: S, context: StepContext) -> dict[str, Any]:
    raise WorkflowPauseDirective(result={"note": "waiting"})


def records_input(state: S, context: StepContext, **user_input: Any) -> dict[str, Any]:
    INPUTS.append((context.step_name, dict(user_input)))
    return {"n": state.n + 1}


def with_input(state: S, context: StepContext, **user_input: Any) -> dict[str, Any]:
    CONTEXTS.append(context)
    return {"note": f"{context.validated_input.by}:{context.validated_input.approved}"}


async def logs(state: S, context: StepContext) -> dict[str, Any]:
    await context.persistence.log_execution(
        workflow_id=context.workflow_id,
        log_level="WARNING",
        message="hello from a step",
        step_name=context.step_name,
    )
    return {}


def mutate_then_fail(state: S, context: StepContext) -> dict[str, Any]:
    state.log.append(f"half-done {context.attempt}")
    raise RuntimeError("failed after changing the state in place")
