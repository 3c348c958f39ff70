"""The saga unwind.

When a step fails in saga mode (see ``runner.fail_step``), the completed steps are compensated
in reverse order of completion. The journal gets one entry per undone step: ``SKIPPED`` (no
compensation, or the failing step itself without ``compensate_on_failure``), ``STARTED`` then
``COMPLETED``/``FAILED``, or ``REJECTED`` by an operator. Each ``STARTED`` entry is committed
before its function runs and each outcome is committed with the next ``STARTED`` entry, so an
unwind of ``n`` compensations costs ``n + 1`` commits and a crash never re-runs a compensation
the journal shows finished. A failed compensation leaves no trace in the state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ruvon.steps
from ruvon.definition.schema import StepType
from ruvon.errors import ChildWorkflowError, StepResultError
from ruvon.models import (
    CompensationRecord,
    CompensationStatus,
    ScopePath,
    StepRecord,
    StepStatus,
    WorkflowError,
)
from ruvon.providers.observer import EventKind
from ruvon.runtime.attempts import CallResult, call_with_retries
from ruvon.runtime.merge import merge_result
from ruvon.runtime.outcome import Where
from ruvon.status import WorkflowStatus as S
from ruvon.steps import children, subworkflow

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.workflow import Workflow

CANCELLED_ERROR = "WorkflowCancelled"
# step types that run other steps: their own records are not undone (their steps' are)
CONTAINERS = frozenset({StepType.LOOP, StepType.PARALLEL})


def iteration_of(wf: Workflow, scope: str) -> int | None:
    """The index of the innermost loop iteration or fan-out task a scope path is in (``None``:
    none): the ``loop_index`` its compensation gets. A static task named with digits
    (``task:7``) is not a fan-out's: its step is asked."""
    segments = ScopePath.parse(scope).segments
    for k in range(len(segments) - 1, -1, -1):
        kind, _, index = segments[k].partition(":")
        if kind == "task" and index.isdigit() and _fans_out(wf, segments[:k]):
            return int(index)
        if kind == "iter":
            return int(index) if index.isdigit() else None
    return None


def _fans_out(wf: Workflow, segments: tuple[str, ...]) -> bool:
    """Whether the PARALLEL step at this scope path runs a fan-out (its tasks are indexes)."""
    step = wf.definition.resolve(str(ScopePath(segments)))
    return step is not None and getattr(step.compiled, "fan_out", None) is not None


C = CompensationStatus


def compensation_of(wf: Workflow, step: CompiledStep) -> tuple[Callable[..., Any], bool] | None:
    """What undoes ``step``, and whether it is async: its ``compensate_function``, or what its
    type's handler builds for ``wf`` (an HTTP step's compensating request, which needs the
    workflow's template engine and secrets); ``None``: nothing."""
    if step.compensate is not None:
        return step.compensate, step.compensate_is_async
    build = getattr(ruvon.steps.STEP_HANDLERS.get(step.spec.type), "compensation", None)
    function = None if build is None else build(wf, step)
    return None if function is None else (function, True)


def _undoable(wf: Workflow, record: StepRecord) -> bool:
    """A record of a step that ran a function (not of a LOOP, whose body steps are undone
    one by one, nor of a step that no longer exists in the definition)."""
    step = wf.definition.resolve(record.scope)
    return step is not None and step.spec.type not in CONTAINERS


def _failed_tasks(wf: Workflow, parallel: StepRecord) -> list[StepRecord]:
    """The tasks of a failed PARALLEL step whose last attempt failed, newest first: its
    failing steps, whatever order its tasks finished in (their records come just before the
    step's own)."""
    prefix = f"{parallel.scope}/task:"
    latest: dict[str, StepRecord] = {}
    for record in reversed(wf.history[: parallel.seq]):
        if not record.scope.startswith(prefix):
            break
        latest.setdefault(record.scope, record)
    failed = [r for r in latest.values() if r.status is StepStatus.FAILED and _undoable(wf, r)]
    return sorted(failed, key=lambda r: r.seq, reverse=True)


def plan(wf: Workflow, *, include_failed: bool = False) -> list[StepRecord]:
    """Forward attempts still to undo, most recent first.

    An entry that finished (``COMPLETED``, ``SKIPPED``, ``REJECTED``; ``FAILED`` too unless
    ``include_failed``, which ``retry()`` sets) is never planned again. Steps nested in a loop
    are planned like any other, by their own records: newest first.
    """
    settled = {C.COMPLETED, C.SKIPPED, C.REJECTED} | (set() if include_failed else {C.FAILED})
    done = {e.forward_seq for e in wf.journal if e.status in settled}
    todo = [
        r
        for r in wf.history
        if r.status is StepStatus.COMPLETED and r.seq not in done and _undoable(wf, r)
    ]
    failing: list[StepRecord] = []
    if wf.error is not None and wf.error.type != CANCELLED_ERROR:
        # the failed attempt that ended the forward run: the last record, or, when a loop
        # failed, the failed body step recorded just before the loop's own record, or, when a
        # PARALLEL step failed, each of its tasks that failed for good
        for record in reversed(wf.history):
            if record.status is not StepStatus.FAILED:
                break
            if _undoable(wf, record):
                failing = [record]
                break
            step = wf.definition.resolve(record.scope)
            if step is not None and step.spec.type is StepType.PARALLEL:
                failing = _failed_tasks(wf, record)
                break
    todo.sort(key=lambda r: r.seq, reverse=True)
    return [r for r in failing if r.seq not in done] + todo


def _entry(
    wf: Workflow,
    record: StepRecord,
    step: CompiledStep,
    status: CompensationStatus,
    **fields: object,
) -> CompensationRecord:
    now = wf.clock()
    entry = CompensationRecord(
        sequence=len(wf.journal),
        forward_seq=record.seq,
        scope=record.scope,
        step_name=step.name,
        step_index=step.index,
        function=step.spec.compensate_function,
        status=status,
        started_at=now,
        ended_at=None if status is C.STARTED else now,
        **fields,  # type: ignore[arg-type]
    )
    wf.journal.append(entry)
    wf.stage_compensation(entry)
    return entry


_RERUN = "run again: it was interrupted before it finished"


def _restart(wf: Workflow, record: StepRecord) -> CompensationRecord | None:
    """The ``STARTED`` entry of a compensation that was running when its process died (an
    operator's decision on it stays in its detail)."""
    for entry in wf.journal:
        if entry.forward_seq == record.seq and entry.status is C.STARTED:
            detail = _RERUN if not entry.detail else f"{entry.detail}; {_RERUN}"
            return wf.revise_compensation(entry, started_at=wf.clock(), detail=detail)
    return None


def approved_before(wf: Workflow, record: StepRecord) -> dict[str, Any] | None:
    """The decision of an operator who already approved this compensation (it failed, or its
    process died, since): an approval is given once, not at every run of it."""
    for entry in reversed(wf.journal):
        if entry.forward_seq != record.seq:
            continue
        if entry.status is C.REJECTED:
            return None
        if (entry.detail or "").startswith(Decision.APPROVED):
            return {"decided_by": entry.decided_by, "detail": entry.detail}
    return None


# a frame kept while an operator's retry() unwinds: its failed compensations are run again,
# also after a pause for an approval
RETRY_UNWIND = "retry_unwind"


def retrying(wf: Workflow) -> bool:
    return any(f.get("kind") == RETRY_UNWIND for f in wf.frames)


async def _skip(wf: Workflow, record: StepRecord, step: CompiledStep, detail: str) -> None:
    _entry(wf, record, step, C.SKIPPED, detail=detail)
    if wf.observer.wants(EventKind.COMPENSATION_SKIPPED):
        await wf.notify(
            EventKind.COMPENSATION_SKIPPED,
            step_name=step.name,
            data={"detail": detail},
            scope=record.scope,
        )


async def _compensate(
    wf: Workflow,
    record: StepRecord,
    step: CompiledStep,
    entry: CompensationRecord,
    *,
    retrying: bool = False,
) -> None:
    """Run one compensation with its retries; a failed one leaves no trace in the state. A
    step that ran a child workflow first has the child unwound as a whole (child first); a
    failed step whose child is not rolled back has only that done (its own compensation runs
    with ``compensate_on_failure``). ``retrying``: an operator's ``retry()`` runs again."""
    if wf.observer.wants(EventKind.COMPENSATION_STARTED):
        await wf.notify(EventKind.COMPENSATION_STARTED, step_name=step.name, scope=record.scope)
    child = subworkflow.child_of_record(record.result)
    error = None if child is None else await _undo_child(wf, step, child, retrying)
    compensation = compensation_of(wf, step)
    if record.status is StepStatus.FAILED and not step.spec.compensate_on_failure:
        compensation = None  # planned for its child only
    if compensation is None or error is not None:
        call = CallResult(attempt=1, started_at=entry.started_at, ended_at=wf.clock(), error=error)
    else:
        call = await call_with_retries(
            wf,
            step,
            function=compensation[0],
            is_async=compensation[1],
            user_input={},
            compensation_of=record.result or {},
            where=Where(record.scope, item=record.item, index=iteration_of(wf, record.scope)),
        )
    error = call.error
    if error is None and call.directive is not None:
        error = StepResultError(
            f"compensation of step '{step.name}' raised {type(call.directive).__name__}; "
            "a compensation can not jump, pause or start a workflow",
            step=step.name,
        )
    changes: dict[str, Any] = {"attempts": call.attempt, "ended_at": call.ended_at}
    if child is not None:
        note = f"child workflow {child} unwound first"
        changes["detail"] = f"{entry.detail}; {note}" if entry.detail else note
    if error is None:
        try:
            merged = merge_result(wf.state, call.value, step.name, compensation=True)
        except StepResultError as exc:
            error = exc
        else:
            wf.apply(merged)
            changes["result"] = merged.result
    if error is None:
        changes["status"], kind = C.COMPLETED, EventKind.COMPENSATION_COMPLETED
    else:
        wf.restore_state()  # the failed compensation's in-place changes are dropped
        changes["status"], kind = C.FAILED, EventKind.COMPENSATION_FAILED
        changes["error"] = WorkflowError.from_exception(error, step.name)
    entry = wf.revise_compensation(entry, **changes)
    if wf.observer.wants(kind):
        await wf.notify(
            kind,
            step_name=step.name,
            error=entry.error,
            duration_ms=entry.duration_ms,
            attempt=entry.attempts,
            scope=record.scope,
        )


async def _undo_child(
    wf: Workflow, step: CompiledStep, child: str, retrying: bool
) -> BaseException | None:
    """Unwind the child a step ran; what went wrong (``None``: it is rolled back)."""
    try:
        await children.unwind_child(wf, step, child, retrying=retrying)
    except ChildWorkflowError as exc:
        return exc
    return None


def _final_status(wf: Workflow) -> S:
    latest: dict[int, CompensationStatus] = {}
    for e in wf.journal:
        latest[e.forward_seq] = e.status
    # a rejected compensation leaves its step done: the workflow was not rolled back
    if any(s is C.FAILED or s is C.REJECTED for s in latest.values()):
        return S.COMPENSATION_FAILED
    if wf.error is not None and wf.error.type == CANCELLED_ERROR:
        return S.CANCELLED
    return S.FAILED_ROLLED_BACK


def awaiting_approval(wf: Workflow) -> StepRecord | None:
    """The forward attempt whose compensation waits for an operator's decision."""
    for record in plan(wf, include_failed=retrying(wf)):
        step = wf.definition.resolve(record.scope)
        if (
            step is not None
            and compensation_of(wf, step) is not None
            and step.spec.compensation_requires_approval
            and (record.status is not StepStatus.FAILED or step.spec.compensate_on_failure)
            and approved_before(wf, record) is None
        ):
            return record
    return None


@dataclass(frozen=True, slots=True)
class Decision:
    """An operator's answer to a compensation that needs approval."""

    approved: bool
    decided_by: str | None = None
    reason: str | None = None

    APPROVED = "compensation approved"

    def detail(self) -> str:
        what = "approved" if self.approved else "rejected"
        who = f" by {self.decided_by}" if self.decided_by else " by an operator"
        return f"compensation {what}{who}" + (f": {self.reason}" if self.reason else "")


async def unwind(
    wf: Workflow, *, include_failed: bool = False, decision: Decision | None = None
) -> None:
    """Run the pending compensations, then settle the final status.

    ``decision`` answers the first step that requires approval; without one, the unwind stops in
    ``WAITING_COMPENSATION_APPROVAL`` before that step. The journal entry of that step keeps who
    decided (``decided_by``), when (its ``started_at``) and why (``detail``).
    """
    if include_failed and not retrying(wf):
        wf.frames.append({"kind": RETRY_UNWIND})  # committed with the unwind's first commit
    include_failed = include_failed or retrying(wf)
    for record in plan(wf, include_failed=include_failed):
        step = wf.definition.resolve(record.scope)
        assert step is not None  # plan() keeps only records of steps that exist
        if compensation_of(wf, step) is None and not subworkflow.child_of_record(record.result):
            await _skip(wf, record, step, "no compensate_function")
            continue
        if (
            record.status is StepStatus.FAILED
            and not step.spec.compensate_on_failure
            and not subworkflow.needs_undo(record.result)
        ):
            await _skip(wf, record, step, "the step failed; compensate_on_failure is not set")
            continue
        decided: dict[str, Any] = {}
        prior = approved_before(wf, record) if step.spec.compensation_requires_approval else None
        if prior is not None:
            decided = prior  # approved once already: not asked again
        elif step.spec.compensation_requires_approval:
            if decision is None:
                if wf.status is not S.COMPENSATING:
                    await wf.commit(S.COMPENSATING, reason="unwinding")
                await wf.commit(
                    S.WAITING_COMPENSATION_APPROVAL,
                    reason=f"compensation of '{record.scope}' needs approval",
                )
                return
            decided = {"decided_by": decision.decided_by, "detail": decision.detail()}
            approved, decision = decision.approved, None
            if not approved:
                _entry(wf, record, step, C.REJECTED, **decided)
                continue
        entry = _restart(wf, record) or _entry(wf, record, step, C.STARTED, **decided)
        await wf.commit(S.COMPENSATING, reason="unwinding")
        await _compensate(wf, record, step, entry, retrying=include_failed)
    if wf.status is not S.COMPENSATING:
        await wf.commit(S.COMPENSATING, reason="unwinding")
    final = _final_status(wf)
    wf.frames[:] = [f for f in wf.frames if f.get("kind") != RETRY_UNWIND]
    await wf.commit(final, reason="unwind finished")
    kind = {
        S.CANCELLED: EventKind.WORKFLOW_CANCELLED,
        S.FAILED_ROLLED_BACK: EventKind.WORKFLOW_ROLLED_BACK,
    }.get(final, EventKind.WORKFLOW_FAILED)
    if wf.observer.wants(kind):
        await wf.notify(kind, error=wf.error)
