"""Cancelling a workflow: at once when this object may, else by a request its runner honours.

``Workflow.cancel()`` comes here (through :func:`ruvon.steps.children.as_child` for a child its
parents wait for). A workflow another runner is advancing gets the request recorded with the
store; that runner carries it out at its next transition (:func:`honour`). In saga mode the
completed steps are compensated first; a workflow waiting for a child cancels the child too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ruvon.errors import ConcurrentModificationError, IllegalOperationError
from ruvon.models import WorkflowError
from ruvon.providers.observer import EventKind
from ruvon.runtime import runner, saga
from ruvon.status import WorkflowStatus as S
from ruvon.steps import children, subworkflow

if TYPE_CHECKING:
    from ruvon.workflow import Workflow


async def cancel(wf: Workflow, reason: str | None) -> S:
    """``Workflow.cancel()``: cancel now, or record the request for the runner at work."""
    if wf._busy and wf.status in runner.CANCELLABLE:
        wf.cancel_requested = reason or "cancelled"  # the running loop stops next
        return wf.status
    with wf._exclusive():
        if wf.status.is_finished or wf.status in (
            S.COMPENSATING,
            S.WAITING_COMPENSATION_APPROVAL,
        ):
            raise IllegalOperationError(
                f"workflow '{wf.id}' is {wf.status.value} and can not be cancelled",
                workflow_id=wf.id,
                status=wf.status.value,
            )
        await children.check_cancellable(wf)
        message = reason or "cancelled"
        try:
            await wf.acquire()
        except ConcurrentModificationError as exc:
            if exc.lease_owner is None or exc.lease_owner == wf.runner_id:
                raise  # not held by another runner: this object is out of date
            if not await wf.persistence.request_cancel(wf.id, message):
                raise
            wf.cancel_requested = message
            await children.cancel_child(wf, message)  # its runner waits for it
            return wf.status
        wf.cancel_requested = message
        await wf.honour_cancel()
        return wf.status


async def honour(wf: Workflow) -> None:
    """Carry out the pending cancellation (``wf`` holds the lease)."""
    message = wf.cancel_requested or "cancelled"
    wf.cancel_requested = None
    if subworkflow.waited_child(wf) is not None:
        await children.cancel_child(wf, message)
        del wf.frames[:]  # no step waits for it any more
    if wf.saga_mode and saga.plan(wf):
        wf.error = WorkflowError(saga.CANCELLED_ERROR, message, wf.current_step_name)
        await saga.unwind(wf)
        return
    await wf.commit(S.CANCELLED, reason=message)
    if wf.observer.wants(EventKind.WORKFLOW_CANCELLED):
        await wf.notify(EventKind.WORKFLOW_CANCELLED, data={"reason": message})
