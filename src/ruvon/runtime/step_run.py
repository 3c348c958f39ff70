"""Running one step, at any depth: the bookkeeping every step type shares.

The runner calls :func:`run_step` for a top-level step; a step that runs others (a LOOP) calls
it for each of its steps. It sends ``STEP_STARTED``, asks the type's handler to run the step,
turns anything the handler raises into a failure of that step, and records the attempt that
decided it (in the step's scope, with its loop item). A step that hands back without a result
(a loop waiting for a step inside it, or yielding to a cancellation) has not finished: nothing
is recorded for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ruvon.steps
from ruvon.errors import WorkflowSetupError
from ruvon.models import StepRecord, StepStatus, WorkflowError
from ruvon.providers.observer import EventKind
from ruvon.runtime.merge import record_item
from ruvon.runtime.outcome import OutcomeKind, StepOutcome, Where

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.workflow import Workflow

WAITS = frozenset(
    {
        OutcomeKind.WAIT_INPUT,
        OutcomeKind.WAIT_HUMAN,
        OutcomeKind.WAIT_ASYNC,
        OutcomeKind.WAIT_CHILD,
        OutcomeKind.WAIT_CHILD_INPUT,
    }
)
# outcomes of a step that has not finished: no attempt is recorded for them unless the step
# produced a result (a dispatch that waits for its task records the dispatch)
UNFINISHED = WAITS | {OutcomeKind.YIELD}


async def run_step(
    wf: Workflow,
    step: CompiledStep,
    user_input: dict[str, Any] | None,
    validated: Any,
    where: Where,
) -> StepOutcome:
    """Run one step through its type's handler and record the attempt that decided it.

    ``user_input`` is ``None`` when no input came for this step (a chained step, or a step
    reached inside a loop), and the input (maybe empty) when the caller passed some."""
    if wf.observer.wants(EventKind.STEP_STARTED):
        await wf.notify(EventKind.STEP_STARTED, step_name=step.name, scope=where.scope)
    started = wf.clock()
    try:
        handler = ruvon.steps.STEP_HANDLERS[step.spec.type]  # read at call time: no cycle
        outcome = await handler.run(wf, step, user_input, validated, where)
    except WorkflowSetupError:
        raise  # this process can not run the step as defined: not the step's failure
    except Exception as exc:  # the handler's own code (a route, a template) failed the step
        outcome = StepOutcome(
            kind=OutcomeKind.FAILED,
            error=WorkflowError.from_exception(exc, step.name),
            started_at=started,
            ended_at=wf.clock(),
        )
    kind = outcome.kind
    if kind is OutcomeKind.FAILED:
        wf.record_attempt(
            step,
            outcome,
            StepStatus.FAILED,
            error=outcome.error,
            result=outcome.result,  # a child workflow the step ran, if any
            scope=where.scope,
            item=record_item(where.item),
        )
    elif kind not in UNFINISHED or outcome.merged is not None:
        merged = outcome.merged
        wf.record_attempt(
            step,
            outcome,
            StepStatus.COMPLETED,
            result=outcome.result,
            scope=where.scope,
            item=record_item(where.item),
            # the state the step left, for the timeline: top-level steps, a bounded size
            state=None
            if merged is None or where.depth or len(merged.state_json) > STATE_SNAPSHOT_LIMIT
            else merged.state_json,
        )
        # a top-level step's completion is told by the runner once it is applied; a nested
        # step's (a loop body's) here, so that each step_started has its end
        nested = where.scope != step.scope
        if nested and kind not in UNFINISHED and wf.observer.wants(EventKind.STEP_COMPLETED):
            await wf.notify(
                EventKind.STEP_COMPLETED,
                step_name=step.name,
                duration_ms=wf.last_step_duration_ms(),
                scope=where.scope,
            )
    return outcome


STATE_SNAPSHOT_LIMIT = 256 * 1024
"""The largest state (its JSON, in bytes) kept with a top-level step's record for the timeline
(``ruvon show``, the dashboard); a larger one is not kept, so a big state does not multiply."""


def record_skipped(
    wf: Workflow, steps: tuple[CompiledStep, ...], start: int, stop: int, scope: str = ""
) -> None:
    """Record the steps a forward jump passed over (``start`` up to, not including, ``stop``);
    ``scope`` is the path of the list they are in (empty: the top level)."""
    now = wf.clock()
    for skipped in steps[start:stop]:
        record = StepRecord(
            seq=len(wf.history),
            scope=f"{scope}/{skipped.scope}" if scope else skipped.scope,
            step_name=skipped.name,
            step_index=skipped.index,
            attempt=0,
            status=StepStatus.SKIPPED,
            started_at=now,
            ended_at=now,
        )
        wf.add_record(record)
