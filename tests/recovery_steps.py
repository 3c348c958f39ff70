"""Step functions for the recovery tests.

``step`` works like ``engine_steps.step``, except in the step named by ``KILL["in"]``, where it
raises :class:`Killed`: a ``BaseException`` the engine does not catch, so the runner stops dead
there as a SIGKILL would stop it (nothing after it runs or is written; the lease stays until it
expires). A test sets ``KILL`` while it makes its abandoned workflows and clears it before it
recovers them; a recovery process of its own never has it set. ``overlapping`` counts how many
calls are inside it at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ruvon.models import StepContext

KILL: dict[str, str | None] = {"in": None}
IN_FLIGHT = {"now": 0, "peak": 0}
PAUSE = {"seconds": 0.1}


class Killed(BaseException):
    """The runner's process "dies" here."""


def step(state: Any, context: StepContext, **_: Any) -> dict[str, Any]:
    if KILL["in"] == context.step_name:
        raise Killed(f"killed in step {context.step_name}")
    state.log.append(context.step_name)
    return {"n": state.n + 1}


async def overlapping(state: Any, context: StepContext, **_: Any) -> dict[str, Any]:
    """Sleep a while, recording the most calls that were inside this step at the same time."""
    IN_FLIGHT["now"] += 1
    IN_FLIGHT["peak"] = max(IN_FLIGHT["peak"], IN_FLIGHT["now"])
    try:
        await asyncio.sleep(PAUSE["seconds"])
    finally:
        IN_FLIGHT["now"] -= 1
    state.log.append(context.step_name)
    return {"n": state.n + 1}
