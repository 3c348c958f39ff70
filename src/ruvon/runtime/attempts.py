"""Calling a step or compensation function with its retry policy.

Every attempt gets a fresh :class:`StepContext` with the same ``idempotency_key``. Retries wait
``RetryPolicy.delay(attempt)`` seconds and only happen for exceptions ``retry_on`` accepts.
Directives are not failures: they propagate to the caller untouched.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ruvon.models import Directive, StepContext, StepStatus, WorkflowError
from ruvon.providers.execution import StepCall
from ruvon.providers.observer import EventKind

if TYPE_CHECKING:
    from collections.abc import Callable

    from ruvon.definition.compile import CompiledStep
    from ruvon.workflow import Workflow


@dataclass(slots=True)
class CallResult:
    """What the last attempt returned, or raised; ``attempt`` is its 1-based number."""

    value: Any
    error: BaseException | None
    attempt: int
    started_at: float
    ended_at: float


async def call_with_retries(
    wf: Workflow,
    step: CompiledStep,
    function: Callable[..., Any],
    is_async: bool,
    user_input: dict[str, Any],
    validated_input: Any = None,
    compensation_of: dict[str, Any] | None = None,
) -> CallResult:
    """Run ``function`` until it succeeds or the policy gives up; never raises step errors."""
    policy = step.spec.retry_policy
    is_compensation = compensation_of is not None
    key = f"{wf.id}:{step.name}:compensate" if is_compensation else f"{wf.id}:{step.name}"
    attempt = 1
    while True:
        context = StepContext(
            wf.id,
            wf.workflow_type,
            step.name,
            step.index,
            attempt,
            key,
            wf.persistence,
            validated_input,
            wf.last_result,
            None,
            None,
            compensation_of,
            wf.error,
            is_compensation,
        )
        started = time.time()
        try:
            value = await wf.executor.execute(
                StepCall(
                    function,
                    is_async,
                    wf.state,
                    context,
                    user_input,
                    None if is_compensation else step.timeout_seconds,
                )
            )
            return CallResult(value, None, attempt, started, time.time())
        except Directive:
            raise
        except Exception as exc:
            failed = CallResult(None, exc, attempt, started, time.time())
            if attempt >= policy.max_attempts or not step.should_retry(exc):
                return failed
            if not is_compensation:  # a forward attempt that will be retried is recorded
                wf.record_attempt(
                    step,
                    failed,
                    StepStatus.FAILED,
                    None,
                    WorkflowError.from_exception(exc, step.name),
                )
            wf.restore_state()  # the next attempt starts from the committed state
            if wf.observer.wants(EventKind.STEP_RETRIED):
                await wf.notify(
                    EventKind.STEP_RETRIED,
                    step_name=step.name,
                    attempt=attempt,
                    error=WorkflowError.from_exception(exc, step.name),
                    data={"compensation": is_compensation},
                )
            await asyncio.sleep(policy.delay(attempt))
            attempt += 1
