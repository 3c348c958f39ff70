"""Run every step in the calling process and event loop."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from ruvon.errors import StepTimeoutError
from ruvon.providers.execution import StepCall


class SyncExecutor:
    """Calls ``def`` steps directly and awaits ``async def`` steps, honouring their timeout.

    Only the step's own ``timeout_seconds`` running out is a :class:`StepTimeoutError`; a
    ``TimeoutError`` the function raises itself stays what it is (``retry_on: [TimeoutError]``
    matches it).
    """

    async def execute(self, call: StepCall) -> Any:
        result = call.function(call.state, call.context, **call.user_input)
        if type(result) is dict or result is None:  # the common case, without isawaitable's cost
            return result
        if not call.is_async and not inspect.isawaitable(result):
            return result
        if call.timeout_seconds is None:
            return await result
        timeout = asyncio.timeout(call.timeout_seconds)
        try:
            async with timeout:
                return await result
        except TimeoutError as exc:
            if not timeout.expired():
                raise  # the step's own TimeoutError
            raise StepTimeoutError(
                f"step '{call.context.step_name}' timed out after {call.timeout_seconds}s",
                step=call.context.step_name,
            ) from exc


SyncExecutionProvider = SyncExecutor  # alias used by other Ruvon material
