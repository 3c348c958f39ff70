"""Calling a step or compensation function with its retry policy.

Every attempt gets a fresh :class:`StepContext` with the same ``idempotency_key``. Retries wait
``RetryPolicy.delay(attempt)`` seconds and only happen for exceptions ``retry_on`` accepts; a
retried attempt is recorded and its in-place changes to the state are dropped. Directives are
not failures: the attempt that raised one is returned with it, so its number is known.
``BaseException``\\ s that are not ``Exception``\\ s (cancellation, interrupts) propagate: the
runner drops the attempt's traces.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic_core
from pydantic import BaseModel

from ruvon.models import Directive, StepContext, StepStatus, WorkflowError
from ruvon.providers.execution import StepCall
from ruvon.providers.observer import EventKind
from ruvon.runtime.merge import record_item

if TYPE_CHECKING:
    from collections.abc import Callable

    from ruvon.definition.compile import CompiledStep
    from ruvon.runtime.outcome import Where
    from ruvon.workflow import Workflow


@dataclass(slots=True, kw_only=True)
class CallResult:
    """What the last attempt returned, raised, or signalled; ``attempt`` is its 1-based number."""

    value: Any = None
    error: BaseException | None = None
    directive: Directive | None = None
    attempt: int
    started_at: float
    ended_at: float


_SCALARS = frozenset({str, int, float, bool, type(None)})


def private_copy(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """A deep copy of JSON-ready data (results), so user code can not change a stored record.

    A flat dict of scalars (the common result) needs only a shallow copy; anything nested is
    copied through JSON."""
    if data is None:
        return None
    for value in data.values():
        if type(value) not in _SCALARS:
            copied: dict[str, Any] = pydantic_core.from_json(pydantic_core.to_json(data))
            return copied
    return dict(data)


async def call_with_retries(
    wf: Workflow,
    step: CompiledStep,
    function: Callable[..., Any],
    is_async: bool,
    user_input: dict[str, Any],
    validated_input: Any = None,
    compensation_of: dict[str, Any] | None = None,
    where: Where | None = None,
    state: BaseModel | None = None,
) -> CallResult:
    """Run ``function`` until it succeeds or the policy gives up; never raises step errors.

    ``where`` (default: the top-level step's own scope) gives the scope path, which makes the
    idempotency key ``<workflow id>:<scope path>`` (with ``:compensate`` for a compensation),
    and a loop iteration's item and index for the context. ``state`` (default: the live
    state) is what the function gets: a PARALLEL task gets its own copy, and a failed attempt
    of one then leaves the live state alone.
    """
    policy = step.spec.retry_policy
    is_compensation = compensation_of is not None
    scope = step.scope if where is None else where.scope
    key = f"{wf.id}:{scope}:compensate" if is_compensation else f"{wf.id}:{scope}"
    attempt = 1
    while True:
        last = wf.last_result
        context = StepContext(
            workflow_id=wf.id,
            workflow_type=wf.workflow_type,
            step_name=step.name,
            step_index=step.index,
            attempt=attempt,
            idempotency_key=key,
            persistence=wf.persistence,
            validated_input=validated_input,
            previous_step_result=None if last is None else private_copy(last),
            forward_result=None if compensation_of is None else private_copy(compensation_of),
            failure=wf.error,
            is_compensation=is_compensation,
            scope=scope,
            loop_item=None if where is None else where.item,
            loop_index=None if where is None else where.index,
        )
        started = time.time()
        try:
            value = await wf.executor.execute(
                StepCall(
                    function,
                    is_async,
                    wf.state if state is None else state,
                    context,
                    user_input,
                    None if is_compensation else step.timeout_seconds,
                )
            )
            return CallResult(
                value=value, attempt=attempt, started_at=started, ended_at=time.time()
            )
        except Directive as directive:
            return CallResult(
                directive=directive, attempt=attempt, started_at=started, ended_at=time.time()
            )
        except Exception as exc:
            failed = CallResult(
                error=exc, attempt=attempt, started_at=started, ended_at=time.time()
            )
            if attempt >= policy.max_attempts or not step.should_retry(exc):
                return failed
            error = WorkflowError.from_exception(exc, step.name)
            if not is_compensation:  # a forward attempt that will be retried is recorded
                wf.record_attempt(
                    step,
                    failed,
                    StepStatus.FAILED,
                    error=error,
                    scope=scope,
                    item=None if where is None else record_item(where.item),
                )
            if state is None:
                wf.restore_state()  # the next attempt starts from the committed state
            if wf.observer.wants(EventKind.STEP_RETRIED):
                await wf.notify(
                    EventKind.STEP_RETRIED,
                    step_name=step.name,
                    attempt=attempt,
                    error=error,
                    data={"compensation": is_compensation},
                    scope=scope,
                )
            await asyncio.sleep(policy.delay(attempt))
            attempt += 1
