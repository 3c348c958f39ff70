"""Step and compensation functions for the runtime tests that ``engine_steps`` does not have:
directives a step or a compensation should not raise, results that do not fit, async and slow
compensations. They work on ``engine_steps.S`` and count their calls in ``engine_steps.ATTEMPTS``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine_steps import ATTEMPTS, S
from ruvon.models import (
    Directive,
    StartSubWorkflowDirective,
    StepContext,
    WorkflowJumpDirective,
    WorkflowPauseDirective,
)


class Unknown(Directive):
    """A directive this version of Ruvon does not know (a newer release's, say)."""


def _count(context: StepContext, prefix: str = "") -> None:
    ATTEMPTS[(context.workflow_id, prefix + context.step_name)] += 1


def jump_nowhere(state: S, context: StepContext) -> dict[str, Any]:
    raise WorkflowJumpDirective("Nowhere", result={"note": "lost"})


def start_child(state: S, context: StepContext) -> dict[str, Any]:
    raise StartSubWorkflowDirective("Child", {"n": 1})


def raise_unknown_directive(state: S, context: StepContext) -> dict[str, Any]:
    raise Unknown()


def undo_pauses(state: S, context: StepContext) -> dict[str, Any]:
    _count(context, "undo:")
    raise WorkflowPauseDirective(result={"note": "undo paused"})


def undo_unknown_key(state: S, context: StepContext) -> dict[str, Any]:
    _count(context, "undo:")
    return {"nope": 1}


async def async_undo(state: S, context: StepContext) -> dict[str, Any]:
    _count(context, "undo:")
    await asyncio.sleep(0)
    state.log.append("undo:" + context.step_name)
    return {"n": state.n - 1}


async def slow_undo(state: S, context: StepContext) -> dict[str, Any]:
    """Slower than its step's ``timeout_seconds``, which does not apply to compensations."""
    _count(context, "undo:")
    await asyncio.sleep(0.1)
    state.log.append("undo:" + context.step_name)
    return {"n": state.n - 1}
