"""Advancing a workflow: run the current step, act on its outcome, follow ``automate_next``.

The loop (not recursion) runs any number of automated steps in one ``next_step()`` call; each
completed step is one committed transition. The runner validates the input and leaves the
rest of a step's bookkeeping to :func:`~ruvon.runtime.step_run.run_step` (shared with the steps
nested in a loop). A failing step is recorded once and ends the call. A step that needs input
(``HUMAN_IN_LOOP``, or one with an ``input_model``) stops the workflow in ``WAITING_HUMAN`` or
``PAUSED`` when the cursor reaches it without any. If the call is interrupted (cancelled, or a
commit fails), the workflow object is put back to its last commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ruvon.errors import (
    ChildWorkflowCancelled,
    ChildWorkflowFailed,
    IllegalOperationError,
    StepResultError,
    WorkflowFinishedError,
    WorkflowValidationError,
)
from ruvon.providers.observer import EventKind
from ruvon.runtime import saga
from ruvon.runtime.attempts import private_copy
from ruvon.runtime.cursor import (
    PAUSE,
    drop_input,
    drop_pause_note,
    input_wait,
    keep_input,
    leaf_step,
    stored_input,
)
from ruvon.runtime.leases import keeper
from ruvon.runtime.merge import merge_result, storable
from ruvon.runtime.outcome import OutcomeKind, StepOutcome, Where
from ruvon.runtime.step_run import record_skipped, run_step
from ruvon.status import WorkflowStatus as S
from ruvon.steps.base import validate_input

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.models import WorkflowError
    from ruvon.workflow import Workflow

_WAITING = {
    OutcomeKind.WAIT_INPUT: S.PAUSED,
    OutcomeKind.WAIT_HUMAN: S.WAITING_HUMAN,
    OutcomeKind.WAIT_ASYNC: S.PENDING_ASYNC,
    OutcomeKind.WAIT_CHILD: S.PENDING_SUB_WORKFLOW,
    OutcomeKind.WAIT_CHILD_INPUT: S.WAITING_CHILD_HUMAN_INPUT,
}
# waiting for input: ``next_step(user_input=...)`` and ``resume()`` continue these
INPUT_WAITS = frozenset({S.PAUSED, S.WAITING_HUMAN})
# a cancellation request is honoured in these (elsewhere the status says what happens next)
CANCELLABLE = frozenset(
    {S.ACTIVE, S.PAUSED, S.WAITING_HUMAN, S.PENDING_SUB_WORKFLOW, S.WAITING_CHILD_HUMAN_INPUT}
)
# waiting for a child workflow: advancing them runs the step that waits for it again
CHILD_WAITS = frozenset({S.PENDING_SUB_WORKFLOW, S.WAITING_CHILD_HUMAN_INPUT})


def check_can_advance(wf: Workflow) -> None:
    """Raise the clear error for a workflow that ``next_step()`` can not move."""
    status = wf.status
    if status is S.ACTIVE or status in INPUT_WAITS or status is S.COMPENSATING:
        return
    if status in CHILD_WAITS:
        return
    if status.is_finished:
        raise WorkflowFinishedError(
            f"workflow '{wf.id}' is {status.value}; a finished workflow can not be advanced"
            + (
                " (use retry() to run it again)"
                if status in (S.FAILED, S.COMPENSATION_FAILED, S.FAILED_CHILD_WORKFLOW)
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


def _input_for(wf: Workflow, user_input: dict[str, Any] | None) -> tuple[S | None, Any]:
    """``(wait, validated)``: the status to stop in because the step at the cursor needs
    input and none came (``None``: go on), else the validated input for the step at the
    cursor (the innermost one, inside a loop). Bad input raises and writes nothing."""
    if wf.status is S.COMPENSATING:
        return None, None
    step = leaf_step(wf)
    if step is None:
        return None, None
    wait = input_wait(step)
    if wait is None:
        return None, None
    if user_input is None and wf.status is S.ACTIVE:
        if wf.frames:  # a step inside a loop: the loop stops there for its input itself
            return None, None
        return wait, None  # reached a step that waits for input: wait for it
    validated = validate_input(step, user_input or {})
    try:  # kept with the workflow until the step has run: it must be storable
        storable(user_input or {})
    except ValueError as exc:
        raise WorkflowValidationError(
            f"input for step '{step.name}' can not be stored as JSON: {exc}"
        ) from exc
    if step.function is None and step.input_model is None and user_input:
        _check_input_merges(wf, user_input, f"input for step '{step.name}'")
    return None, validated


def check_call(wf: Workflow, user_input: dict[str, Any] | None) -> None:
    """Raise what :func:`advance` would raise for this call before writing anything (a child
    checks its input before its waiting parents are woken)."""
    check_can_advance(wf)
    _check_input_shape(wf, user_input)
    if wf.status in INPUT_WAITS:
        _input_for(wf, user_input)


async def advance(wf: Workflow, user_input: dict[str, Any] | None) -> dict[str, Any] | None:
    """Run steps from the cursor until one without ``automate_next`` completes or it stops."""
    check_can_advance(wf)
    _check_input_shape(wf, user_input)
    if user_input is None and wf.status is S.ACTIVE:
        user_input = stored_input(wf)  # resumed, then interrupted: the input was kept
    if user_input is not None and wf.status is S.WAITING_CHILD_HUMAN_INPUT:
        await _check_child_input(wf, user_input)  # goes on to the child: its step checks it
    wait, validated = _input_for(wf, user_input)
    if wf.status in INPUT_WAITS and wf.current_step >= len(wf.definition.steps):
        user_input = _final_input(wf, user_input)  # checked before anything is written
    await wf.acquire()
    try:
        if wf.saga_flag_pending or (wf.version == 0 and not wf.saga_mode):
            # settings reach the store before any step runs: recovery does not run a workflow
            # created without saga mode until this commit, so a crash before it (or in the
            # first step) never runs the workflow with settings its program did not give it
            await wf.commit(wf.status, reason="started")
        if wait is not None:
            await _wait_for_input(wf, wait)
            return None
        leases = keeper()
        leases.hold(wf)
        try:
            result = await _advance(wf, user_input, validated)
            if wf.cancel_requested is not None and wf.status in CANCELLABLE:
                await wf.honour_cancel()  # asked for while the last step ran
            return result
        finally:
            leases.drop(wf)
    except BaseException:
        wf.rollback()  # interrupted or a commit failed: back to what the store has
        raise


async def _check_child_input(wf: Workflow, user_input: dict[str, Any]) -> None:
    """Input given to a parent whose child (or a workflow below it) waits for a person goes on
    to that workflow: check it against the step waiting there before anything is written."""
    from ruvon.steps import subworkflow

    child = wf
    while child.status is S.WAITING_CHILD_HUMAN_INPUT:
        child_id = subworkflow.waited_child(child)
        if child_id is None:
            return
        child = await subworkflow.load(wf, child_id)
    if child.status not in INPUT_WAITS:
        raise IllegalOperationError(
            f"workflow '{wf.id}' waits for workflow '{child.id}', which is "
            f"{child.status.value}: it takes no input (approve or reject its compensation)",
            workflow_id=wf.id,
            status=wf.status.value,
        )
    _input_for(child, user_input)


def _check_input_merges(wf: Workflow, user_input: Mapping[str, Any], what: str) -> None:
    """Input merged into the state as it is (no step function takes it) must fit the state:
    unlike a step's result, a key that is not a field is bad input, not something to drop."""
    model = type(wf.state)
    unknown = [k for k in user_input if k not in model.__pydantic_fields__]
    try:
        if unknown and wf.state.__pydantic_extra__ is None:
            raise StepResultError(f"key '{unknown[0]}' is not a field of {model.__name__}")
        merge_result(wf.state, dict(user_input), wf.current_step_name or "end")
    except Exception as exc:
        raise WorkflowValidationError(f"{what} does not fit {model.__name__}: {exc}") from exc


def _final_input(wf: Workflow, user_input: dict[str, Any] | None) -> dict[str, Any] | None:
    """Input for a workflow that paused after its last step: merged into the state (no step
    is left to take it); raises ``WorkflowValidationError`` if it does not fit."""
    if not user_input:
        return None
    _check_input_merges(
        wf, user_input, f"input for workflow '{wf.id}', paused after its last step,"
    )
    return user_input


async def _wait_for_input(wf: Workflow, status: S) -> None:
    step = wf.definition.steps[wf.current_step]
    await _stop(wf, status, step.name, f"step '{step.name}' waits for input")


async def _resume(wf: Workflow, user_input: dict[str, Any] | None) -> bool:
    """Leave a wait for input; ``True`` if that finished the workflow (its last step had
    paused it)."""
    drop_pause_note(wf)
    if wf.current_step >= len(wf.definition.steps):
        if user_input:
            wf.apply(merge_result(wf.state, user_input, wf.definition.steps[-1].name))
        await wf.commit(S.COMPLETED, reason="resumed")
        if wf.observer.wants(EventKind.WORKFLOW_COMPLETED):
            await wf.notify(EventKind.WORKFLOW_COMPLETED)
        return True
    step = leaf_step(wf)
    if step is not None and input_wait(step) is not None:
        keep_input(wf, user_input or {})  # committed with the resume: a crash keeps it
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
    if wf.status in INPUT_WAITS:
        if await _resume(wf, user_input):
            return None
        user_input = user_input if user_input is not None else {}  # resumed: input given
    pending = user_input
    while True:
        if wf.cancel_requested is not None:
            await wf.honour_cancel()
            return None
        step = wf.definition.steps[wf.current_step]
        outcome = await run_step(wf, step, pending, validated, Where(step.scope))
        pending, validated = None, None
        if outcome.kind is OutcomeKind.FAILED:
            assert outcome.error is not None
            await fail_step(wf, step, outcome.error)
            return None
        if await _settle(wf, step, outcome):
            result = outcome.result  # the caller's own copy: the record keeps this one
            return None if result is None else private_copy(result)


async def fail_step(wf: Workflow, step: CompiledStep, error: WorkflowError) -> None:
    """Record a step failure once, then stop (``FAILED``) or unwind (saga mode).

    In-place changes the failed step made to the state are dropped first: the state is the one
    last committed, as it would be after a crash.
    """
    wf.error = error
    wf.restore_state()
    if error.type == ChildWorkflowCancelled.__name__:  # its child was cancelled: so is it
        wf.cancel_requested = wf.cancel_requested or error.message
        await wf.honour_cancel()
        return
    if wf.observer.wants(EventKind.STEP_FAILED):
        await wf.notify(
            EventKind.STEP_FAILED,
            step_name=step.name,
            error=error,
            attempt=wf.history[-1].attempt if wf.history else None,
            scope=step.scope,
        )
    if not wf.saga_mode:
        failed_child = error.type == ChildWorkflowFailed.__name__
        status = S.FAILED_CHILD_WORKFLOW if failed_child else S.FAILED
        await wf.commit(status, reason=f"step '{step.name}' failed")
        if wf.observer.wants(EventKind.WORKFLOW_FAILED):
            await wf.notify(EventKind.WORKFLOW_FAILED, step_name=step.name, error=error)
        return
    await saga.unwind(wf)


async def _stop(wf: Workflow, status: S, step_name: str, reason: str) -> None:
    """Commit a wait (for input, a person, a task, a child) at ``step_name``."""
    await wf.commit(status, reason=reason)
    if wf.observer.wants(EventKind.PAUSED):
        await wf.notify(EventKind.PAUSED, step_name=step_name)


async def _settle(wf: Workflow, step: CompiledStep, outcome: StepOutcome) -> bool:
    """Apply a successful outcome and commit it; ``True`` when this call should stop."""
    steps = wf.definition.steps
    drop_input(wf)  # the step that took it has run
    if outcome.merged is not None:
        wf.apply(outcome.merged)
    if outcome.kind is OutcomeKind.YIELD:  # the step committed its progress; a cancel waits
        return True
    waiting = _WAITING.get(outcome.kind)
    if waiting is not None:  # the cursor stays on the step (a step inside it waits)
        await _stop(wf, waiting, step.name, f"step '{step.name}' waits")
        return True
    wf.last_result = outcome.result
    if wf.observer.wants(EventKind.STEP_COMPLETED):
        await wf.notify(
            EventKind.STEP_COMPLETED,
            step_name=step.name,
            duration_ms=wf.last_step_duration_ms(),
            scope=step.scope,
        )
    nxt = step.index + 1 if outcome.jump_to is None else outcome.jump_to
    if nxt > step.index + 1:
        record_skipped(wf, steps, step.index + 1, nxt)
    wf.current_step = nxt
    if outcome.kind is OutcomeKind.PAUSE:
        if outcome.waiting_for is not None:
            wf.frames.append({"kind": PAUSE, "waiting_for": outcome.waiting_for["waiting_for"]})
        await _stop(wf, S.PAUSED, step.name, f"paused by step '{step.name}'")
        return True
    if nxt >= len(steps):
        await wf.commit(S.COMPLETED)
        if wf.observer.wants(EventKind.WORKFLOW_COMPLETED):
            await wf.notify(EventKind.WORKFLOW_COMPLETED)
        return True
    wait = input_wait(steps[nxt])
    if wait is not None:  # the next step waits for input, chained or not
        await _stop(wf, wait, steps[nxt].name, f"step '{steps[nxt].name}' waits for input")
        return True
    await wf.commit(S.ACTIVE, release=not step.automate_next)
    return not step.automate_next


async def retry(wf: Workflow) -> S:
    """``Workflow.retry()``: the failed step (``FAILED``) or the failed compensations
    (``COMPENSATION_FAILED``) run again."""
    if wf.status in (S.FAILED, S.FAILED_CHILD_WORKFLOW):
        with wf._exclusive():
            await wf.acquire()
            wf.error = None
            await wf.commit(S.ACTIVE, reason="retry")
        return await wf.run()
    if wf.status is S.COMPENSATION_FAILED:
        with wf._exclusive():
            await wf.acquire()
            await saga.unwind(wf, include_failed=True)
        return wf.status
    raise IllegalOperationError(
        f"workflow '{wf.id}' is {wf.status.value}; only FAILED, FAILED_CHILD_WORKFLOW and "
        "COMPENSATION_FAILED workflows can be retried",
        workflow_id=wf.id,
        status=wf.status.value,
    )
