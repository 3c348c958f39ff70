"""Advancing a workflow: run the current step, act on its outcome, follow ``automate_next``.

The loop (not recursion) runs any number of automated steps in one ``next_step()`` call; each
completed step is one committed transition. The runner does the bookkeeping of every step type
once: it validates the input, sends ``STEP_STARTED``, asks the type's handler to run the step,
turns anything the handler raises into a failure of that step, and records the deciding
attempt. A failing step is recorded once and ends the call. If the call is interrupted
(cancelled, or a commit fails), the workflow object is put back to its last commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ruvon.errors import IllegalOperationError, WorkflowFinishedError, WorkflowValidationError
from ruvon.models import StepStatus, WorkflowError
from ruvon.providers.observer import EventKind
from ruvon.runtime import saga
from ruvon.runtime.attempts import private_copy
from ruvon.runtime.leases import keeper
from ruvon.runtime.merge import merge_result
from ruvon.runtime.outcome import OutcomeKind, StepOutcome
from ruvon.status import WorkflowStatus as S
from ruvon.steps import STEP_HANDLERS
from ruvon.steps.base import validate_input

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.workflow import Workflow

_WAITING = {
    OutcomeKind.WAIT_INPUT: S.PAUSED,
    OutcomeKind.WAIT_ASYNC: S.PENDING_ASYNC,
    OutcomeKind.WAIT_CHILD: S.PENDING_SUB_WORKFLOW,
}


def check_can_advance(wf: Workflow) -> None:
    """Raise the clear error for a workflow that ``next_step()`` can not move."""
    status = wf.status
    if status is S.ACTIVE or status is S.PAUSED or status is S.COMPENSATING:
        return
    if status.is_finished:
        raise WorkflowFinishedError(
            f"workflow '{wf.id}' is {status.value}; a finished workflow can not be advanced"
            + (
                " (use retry() to run it again)"
                if status in (S.FAILED, S.COMPENSATION_FAILED)
                else ""
            ),
            workflow_id=wf.id,
            status=status.value,
        )
    raise IllegalOperationError(
        f"workflow '{wf.id}' is {status.value} and can not be advanced by next_step()",
        workflow_id=wf.id,
        status=status.value,
    )


def _check_input_shape(wf: Workflow, user_input: Any) -> None:
    """``user_input`` must be a mapping of names (it becomes ``**user_input``): anything else
    is the caller's mistake, raised before anything is written, not a failure of the step."""
    if user_input is None:
        return
    if not isinstance(user_input, Mapping) or not all(isinstance(k, str) for k in user_input):
        raise WorkflowValidationError(
            f"user_input for workflow '{wf.id}' must be a dict with string keys (it is passed "
            f"to the step as keyword arguments), not {type(user_input).__name__}: "
            f"{str(user_input)[:80]!r}"
        )


def _input_for(wf: Workflow, user_input: dict[str, Any] | None) -> tuple[bool, Any]:
    """``(wait, validated)``: whether the call should stop to wait for input, else the
    validated input of the step at the cursor. Bad input raises and writes nothing."""
    steps = wf.definition.steps
    if wf.status is S.COMPENSATING or wf.current_step >= len(steps):
        return False, None
    step = steps[wf.current_step]
    if step.input_model is None:
        return False, None
    if user_input is None and wf.status is S.ACTIVE:
        return True, None  # reached a step that waits for input: wait for it
    return False, validate_input(step, user_input or {})


async def advance(wf: Workflow, user_input: dict[str, Any] | None) -> dict[str, Any] | None:
    """Run steps from the cursor until one without ``automate_next`` completes or it stops."""
    check_can_advance(wf)
    _check_input_shape(wf, user_input)
    wait, validated = _input_for(wf, user_input)
    if wf.status is S.PAUSED and wf.current_step >= len(wf.definition.steps):
        user_input = _final_input(wf, user_input)  # checked before anything is written
    await wf.acquire()
    try:
        if wf.saga_flag_pending or (wf.version == 0 and not wf.saga_mode):
            # settings reach the store before any step runs: recovery does not run a workflow
            # created without saga mode until this commit, so a crash before it (or in the
            # first step) never runs the workflow with settings its program did not give it
            await wf.commit(wf.status, reason="started")
        if wait:
            await _wait_for_input(wf)
            return None
        leases = keeper()
        leases.hold(wf)
        try:
            result = await _advance(wf, user_input, validated)
            if wf.cancel_requested is not None and wf.status in (S.ACTIVE, S.PAUSED):
                await wf.honour_cancel()  # asked for while the last step ran
            return result
        finally:
            leases.drop(wf)
    except BaseException:
        wf.rollback()  # interrupted or a commit failed: back to what the store has
        raise


def _final_input(wf: Workflow, user_input: dict[str, Any] | None) -> dict[str, Any] | None:
    """Input for a workflow that paused after its last step: merged into the state (no step
    is left to take it); raises ``WorkflowValidationError`` if it does not fit."""
    if not user_input:
        return None
    try:
        merge_result(wf.state, user_input, wf.definition.steps[-1].name)
    except Exception as exc:
        raise WorkflowValidationError(
            f"input for workflow '{wf.id}', paused after its last step, does not fit "
            f"{type(wf.state).__name__}: {exc}"
        ) from exc
    return user_input


async def _wait_for_input(wf: Workflow) -> None:
    step = wf.definition.steps[wf.current_step]
    await wf.commit(S.PAUSED, reason=f"step '{step.name}' waits for input")
    if wf.observer.wants(EventKind.PAUSED):
        await wf.notify(EventKind.PAUSED, step_name=step.name)


async def _resume(wf: Workflow, user_input: dict[str, Any] | None) -> bool:
    """Leave ``PAUSED``; ``True`` if that finished the workflow (its last step had paused)."""
    if wf.current_step >= len(wf.definition.steps):
        if user_input:
            wf.apply(merge_result(wf.state, user_input, wf.definition.steps[-1].name))
        await wf.commit(S.COMPLETED, reason="resumed")
        if wf.observer.wants(EventKind.WORKFLOW_COMPLETED):
            await wf.notify(EventKind.WORKFLOW_COMPLETED)
        return True
    await wf.commit(S.ACTIVE, reason="resumed")
    if wf.observer.wants(EventKind.RESUMED):
        await wf.notify(EventKind.RESUMED, step_name=wf.current_step_name)
    return False


async def _advance(
    wf: Workflow, user_input: dict[str, Any] | None, validated: Any
) -> dict[str, Any] | None:
    if wf.status is S.COMPENSATING:
        await saga.unwind(wf)
        return None
    if wf.status is S.PAUSED and await _resume(wf, user_input):
        return None
    pending_input = user_input or {}
    while True:
        if wf.cancel_requested is not None:
            await wf.honour_cancel()
            return None
        step = wf.definition.steps[wf.current_step]
        outcome = await run_step(wf, step, pending_input, validated)
        pending_input, validated = {}, None
        if outcome.kind is OutcomeKind.FAILED:
            assert outcome.error is not None
            await fail_step(wf, step, outcome.error)
            return None
        if await _settle(wf, step, outcome):
            result = outcome.result  # the caller's own copy: the record keeps this one
            return None if result is None else private_copy(result)


async def run_step(
    wf: Workflow, step: CompiledStep, user_input: dict[str, Any], validated: Any
) -> StepOutcome:
    """Run one step through its type's handler and record the attempt that decided it."""
    if wf.observer.wants(EventKind.STEP_STARTED):
        await wf.notify(EventKind.STEP_STARTED, step_name=step.name)
    started = wf.clock()
    try:
        outcome = await STEP_HANDLERS[step.spec.type].run(wf, step, user_input, validated)
    except Exception as exc:  # the handler's own code (a route, a template) failed the step
        outcome = StepOutcome(
            kind=OutcomeKind.FAILED,
            error=WorkflowError.from_exception(exc, step.name),
            started_at=started,
            ended_at=wf.clock(),
        )
    if outcome.kind is OutcomeKind.FAILED:
        wf.record_attempt(step, outcome, StepStatus.FAILED, error=outcome.error)
    else:
        wf.record_attempt(step, outcome, StepStatus.COMPLETED, result=outcome.result)
    return outcome


async def fail_step(wf: Workflow, step: CompiledStep, error: WorkflowError) -> None:
    """Record a step failure once, then stop (``FAILED``) or unwind (saga mode).

    In-place changes the failed step made to the state are dropped first: the state is the one
    last committed, as it would be after a crash.
    """
    wf.error = error
    wf.restore_state()
    if wf.observer.wants(EventKind.STEP_FAILED):
        await wf.notify(
            EventKind.STEP_FAILED,
            step_name=step.name,
            error=error,
            attempt=wf.history[-1].attempt if wf.history else None,
        )
    if not wf.saga_mode:
        await wf.commit(S.FAILED, reason=f"step '{step.name}' failed")
        if wf.observer.wants(EventKind.WORKFLOW_FAILED):
            await wf.notify(EventKind.WORKFLOW_FAILED, step_name=step.name, error=error)
        return
    await saga.unwind(wf)


async def _settle(wf: Workflow, step: CompiledStep, outcome: StepOutcome) -> bool:
    """Apply a successful outcome and commit it; ``True`` when this call should stop."""
    assert outcome.merged is not None
    steps = wf.definition.steps
    wf.apply(outcome.merged)
    wf.last_result = outcome.result
    if wf.observer.wants(EventKind.STEP_COMPLETED):
        await wf.notify(
            EventKind.STEP_COMPLETED, step_name=step.name, duration_ms=wf.last_step_duration_ms()
        )
    waiting = _WAITING.get(outcome.kind)
    if waiting is not None:  # the cursor stays on the step
        await wf.commit(waiting, reason=f"step '{step.name}' waits")
        return True
    nxt = step.index + 1 if outcome.jump_to is None else outcome.jump_to
    wf.current_step = nxt
    if outcome.kind is OutcomeKind.PAUSE:
        await wf.commit(S.PAUSED, reason=f"paused by step '{step.name}'")
        if wf.observer.wants(EventKind.PAUSED):
            await wf.notify(EventKind.PAUSED, step_name=step.name)
        return True
    if nxt >= len(steps):
        await wf.commit(S.COMPLETED)
        if wf.observer.wants(EventKind.WORKFLOW_COMPLETED):
            await wf.notify(EventKind.WORKFLOW_COMPLETED)
        return True
    if steps[nxt].input_model is not None:  # the next step waits for input, chained or not
        await wf.commit(S.PAUSED, reason=f"step '{steps[nxt].name}' waits for input")
        if wf.observer.wants(EventKind.PAUSED):
            await wf.notify(EventKind.PAUSED, step_name=steps[nxt].name)
        return True
    if not step.automate_next:
        await wf.commit(S.ACTIVE, release=True)
        return True
    await wf.commit(S.ACTIVE)
    return False
