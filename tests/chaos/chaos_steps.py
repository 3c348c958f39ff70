"""Steps of the chaos workflows: each records itself in ``state.log`` (a compensation as
``undo:<step>``) and fails where ``state.fail_at`` says. ``DELAY`` stands for the work a step
does: the chaos test sets it while the server fails, so that workflows are in flight then."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext

DELAY = 0.0
RUNS: Counter[tuple[str, str]] = Counter()  # (workflow id, step or undo:step) -> runs


class Order(BaseModel):
    log: list[str] = []
    fail_at: str | None = None


async def work(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    await asyncio.sleep(DELAY)
    RUNS[(context.workflow_id, context.step_name)] += 1
    if context.step_name == state.fail_at:
        raise RuntimeError(f"{context.step_name} failed")
    state.log.append(context.step_name)
    return {}


async def undo(state: Order, context: StepContext, **_: Any) -> dict[str, Any]:
    await asyncio.sleep(DELAY)
    RUNS[(context.workflow_id, "undo:" + context.step_name)] += 1
    state.log.append("undo:" + context.step_name)
    return {}
