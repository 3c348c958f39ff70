"""Advancing a workflow: run the current step, act on its outcome, follow ``automate_next``.

The loop (not recursion) runs any number of automated steps in one ``next_step()`` call; each
completed step is one committed transition. A failing step is recorded once and ends the call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ruvon.errors import IllegalOperationError, WorkflowFinishedError
from ruvon.providers.observer import EventKind
from ruvon.runtime import saga
from ruvon.runtime.leases import keeper
from ruvon.runtime.outcome import OutcomeKind
from ruvon.runtime.status import WorkflowStatus as S
from ruvon.steps import STEP_HANDLERS
from ruvon.steps.base import validate_input

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.runtime.outcome import StepOutcome
    from ruvon.workflow import Workflow


def check_can_advance(wf: Workflow) -> None:
    """Raise the clear error for a workflow that ``next_step()`` can not move."""
    status = wf.status
    if status is S.ACTIVE or status is S.PAUSED or status is S.COMPENSATING:
        return
    if status.is_terminal:
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


async def advance(wf: Workflow, user_input: dict[str, Any] | None) -> dict[str, Any] | None:
    """Run steps from the cursor until one without ``automate_next`` completes or it stops."""
    check_can_advance(wf)
    steps = wf.definition.steps
    if wf.current_step < len(steps) and wf.status is not S.COMPENSATING:
        validate_input(steps[wf.current_step], user_input or {})  # bad input writes nothing
    await wf.acquire()
    if wf.saga_flag_pending:
        # a crash in the first step must not lose saga mode: recovery would run without it
        await wf.commit(wf.status, reason="saga mode enabled")
    leases = keeper()
    leases.hold(wf)
    try:
        return await _advance(wf, user_input)
    finally:
        leases.drop(wf)


async def _resume(wf: Workflow) -> bool:
    """Leave ``PAUSED``; ``True`` if that finished the workflow (its last step had paused)."""
    if wf.current_step >= len(wf.definition.steps):
        await wf.commit(S.COMPLETED, reason="resumed")
        return True
    await wf.commit(S.ACTIVE, reason="resumed")
    if wf.observer.wants(EventKind.RESUMED):
        await wf.notify(EventKind.RESUMED, step_name=wf.current_step_name)
    return False


async def _advance(wf: Workflow, user_input: dict[str, Any] | None) -> dict[str, Any] | None:
    if wf.status is S.COMPENSATING:
        await saga.unwind(wf)
        return None
    if wf.status is S.PAUSED and await _resume(wf):
        return None
    pending_input = user_input or {}
    while True:
        step = wf.definition.steps[wf.current_step]
        outcome = await STEP_HANDLERS[step.spec.type].run(wf, step, pending_input)
        pending_input = {}
        if outcome.kind is OutcomeKind.FAILED:
            assert outcome.error is not None
            await saga.fail(wf, step, outcome.error)
            return None
        if await _settle(wf, step, outcome):
            return outcome.result


async def _settle(wf: Workflow, step: CompiledStep, outcome: StepOutcome) -> bool:
    """Apply a successful outcome and commit it; ``True`` when this call should stop."""
    assert outcome.state is not None
    steps = wf.definition.steps
    wf.state = outcome.state
    wf.last_result = outcome.result
    if wf.observer.wants(EventKind.STEP_COMPLETED):
        await wf.notify(
            EventKind.STEP_COMPLETED, step_name=step.name, duration_ms=wf.last_step_duration_ms()
        )
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
    # stop before a step that waits for user input, even inside an automated chain
    if not step.automate_next or steps[nxt].input_model is not None:
        await wf.commit(S.ACTIVE, release=True)
        return True
    await wf.commit(S.ACTIVE)
    return False
