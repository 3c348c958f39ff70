"""Run every step in the calling process and event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from ruvon.errors import StepTimeoutError
from ruvon.providers.execution import StepCall


class SyncExecutor:
    """Calls ``def`` steps directly and awaits ``async def`` steps, honouring their timeout."""

    async def execute(self, call: StepCall) -> Any:
        if not call.is_async:
            return call.function(call.state, call.context, **call.user_input)
        coro = call.function(call.state, call.context, **call.user_input)
        if call.timeout_seconds is None:
            return await coro
        try:
            return await asyncio.wait_for(coro, call.timeout_seconds)
        except TimeoutError as exc:
            raise StepTimeoutError(
                f"step '{call.context.step_name}' timed out after {call.timeout_seconds}s",
                step=call.context.step_name,
            ) from exc


SyncExecutionProvider = SyncExecutor  # alias used by other Ruvon material
