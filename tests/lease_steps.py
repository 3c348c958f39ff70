"""Step functions the lease and cancellation tests hold open while another runner acts."""

from __future__ import annotations

import asyncio
from typing import Any

from engine_steps import S
from ruvon.models import StepContext

GATES: dict[str, asyncio.Event] = {}  # per workflow id: set to let the held step finish
ENTERED: dict[str, asyncio.Event] = {}  # per workflow id: set once the held step runs


def gate(workflow_id: str) -> tuple[asyncio.Event, asyncio.Event]:
    GATES[workflow_id], ENTERED[workflow_id] = asyncio.Event(), asyncio.Event()
    return GATES[workflow_id], ENTERED[workflow_id]


async def held(state: S, context: StepContext, **_: Any) -> dict[str, Any]:
    """Waits until the test opens the gate (the runner holds the lease meanwhile)."""
    ENTERED[context.workflow_id].set()
    await GATES[context.workflow_id].wait()
    state.log.append(context.step_name)
    return {"n": state.n + 1}
