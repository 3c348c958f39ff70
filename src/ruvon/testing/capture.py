"""An execution provider that remembers the exception a step raised.

The engine keeps a failure as a :class:`~ruvon.models.WorkflowError` (type name, message,
traceback text): ``next_step()`` does not raise. A test wants the exception itself, with the
traceback into the user's code, so the harness runs steps through this wrapper and raises what
it kept once the workflow has recorded the failure.
"""

from __future__ import annotations

from typing import Any

from ruvon.models import Directive
from ruvon.providers.execution import ExecutionProvider, StepCall


class FailureCapture:
    """Wraps another execution provider; keeps, per workflow, the last exception a forward step
    (not a compensation) raised through it. Anything else is the wrapped provider's."""

    def __init__(self, inner: ExecutionProvider) -> None:
        self.inner = inner
        self._raised: dict[str, tuple[str, Exception]] = {}

    async def execute(self, call: StepCall) -> Any:
        try:
            return await self.inner.execute(call)
        except Directive:
            raise  # a directive is not a failure
        except Exception as exc:
            context = call.context
            if not context.is_compensation:
                self._raised[context.workflow_id] = (context.step_name, exc)
            raise

    def pop(self, workflow_id: str) -> tuple[str, Exception] | None:
        """``(step name, exception)`` a forward step of the workflow raised last, forgotten
        once read."""
        return self._raised.pop(workflow_id, None)

    def __getattr__(self, name: str) -> Any:
        # only called for names not found on this object: the wrapped provider's other hooks
        if name == "inner":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)
