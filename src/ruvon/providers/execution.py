"""The execution contract: how a step or compensation function is actually called."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from ruvon.models import StepContext


@dataclass(slots=True)
class StepCall:
    """One call of a user function: ``function(state, context, **user_input)``."""

    function: Callable[..., Any]
    is_async: bool
    state: BaseModel
    context: StepContext
    user_input: dict[str, Any]
    timeout_seconds: float | None = None


@runtime_checkable
class ExecutionProvider(Protocol):
    """Runs step functions: in-process, on threads, or on remote workers."""

    async def execute(self, call: StepCall) -> Any:
        """Call the function and return its result; raise what it raised."""
