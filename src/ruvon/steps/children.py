"""What a parent and its child do to each other outside the step that runs the child.

- A parent that rolls back unwinds its completed child as a whole (:func:`unwind_child`).
- An operation on a child whose ancestors wait for a person through it (resume, cancel,
  approve, reject) wakes the topmost of them first and drives them on from the top once the
  child has stopped again (:func:`as_child`), so that a crash in between leaves recovery a
  parent to continue.
- Cancelling a parent cancels the child it waits for; ``retry()`` of a child its parent failed
  because of retries the parent too.

See :mod:`ruvon.steps.subworkflow` for the step itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ruvon.errors import ChildWorkflowError
from ruvon.models import StepStatus, WorkflowError
from ruvon.status import WorkflowStatus as S
from ruvon.steps.subworkflow import (
    PARENT_KEY,
    ROLLBACK_ERROR,
    RUNNING,
    child_of_record,
    load,
    load_related,
    take,
    waited_child,
)

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.workflow import Workflow

log = logging.getLogger("ruvon.subworkflow")


# --- a parent rolls back -----------------------------------------------------------------------


async def unwind_child(
    wf: Workflow, step: CompiledStep, child_id: str, *, retrying: bool = False
) -> None:
    """Undo a completed child for its rolling-back parent: the child unwinds as a whole (its
    own children first). Raises :class:`~ruvon.errors.ChildWorkflowError` if it is not rolled
    back in the end (a compensation of its own failed, or one waits for approval). With
    ``retrying`` (the parent's ``retry()``), the child's failed compensations run again."""
    # the lease is taken only to do something (a lease taken and kept would hold the child
    # from the next attempt until it ran out)
    moves = {S.COMPLETED, *RUNNING, *([S.COMPENSATION_FAILED] if retrying else [])}
    child = await take(wf, await load(wf, child_id), moves)
    if child.status is S.COMPLETED:
        child.error = WorkflowError(
            ROLLBACK_ERROR, f"its parent workflow {wf.id} rolls back", child.current_step_name
        )
        await child.commit(S.COMPENSATING, reason=f"parent workflow {wf.id} rolls back")
    elif child.status is S.COMPENSATION_FAILED and retrying:
        await child.retry()
    await child.run()
    status = child.status
    if status is S.FAILED_ROLLED_BACK:
        return
    if status is S.WAITING_COMPENSATION_APPROVAL:
        hint = "approve or reject it there, then retry() this workflow"
    elif status is S.COMPENSATION_FAILED:
        hint = "a compensation of its own failed; retry() this workflow to run it again"
    else:
        hint = "it can not be rolled back from there"
    raise ChildWorkflowError(
        f"child workflow {child.id} ({child.workflow_type}) is {status.value}: {hint}",
        step=step.name,
        child_id=child.id,
        child_status=status.value,
    )


# --- operations on a child whose parent waits for a person through it --------------------------


async def wake_ancestors(child: Workflow) -> Workflow | None:
    """Before a child that waits for a person goes on: move its topmost ancestor that waits
    (``WAITING_CHILD_HUMAN_INPUT``) through it to ``PENDING_SUB_WORKFLOW`` under our lease and
    return it, so that a crash from here on leaves recovery a parent to continue."""
    if child.driven or PARENT_KEY not in child.metadata or child.builder is None:
        return None
    top: Workflow | None = None
    current = child
    while (parent_id := current.metadata.get(PARENT_KEY)) is not None:
        try:
            parent = await load_related(child, parent_id)
        except Exception:  # a parent gone or unreadable does not hold the child back
            break
        if parent.status is not S.WAITING_CHILD_HUMAN_INPUT or waited_child(parent) != current.id:
            break
        top = current = parent
    if top is None:
        return None
    await top.acquire()
    await top.commit(S.PENDING_SUB_WORKFLOW, reason=f"workflow {child.id} below it goes on")
    return top


async def as_child(
    child: Workflow,
    operation: Callable[[], Awaitable[Any]],
    check: Callable[[], None] | None = None,
) -> Any:
    """Run ``operation`` on a child. If ancestors wait for a person through it, ``check``
    (which raises for bad input, before anything is written) runs first, then they are woken,
    and once the child has stopped again they are driven on from the top (also when the
    operation raised: they go back to waiting)."""
    if check is not None:
        check()
    top = await wake_ancestors(child)
    if top is None:
        return await operation()
    from ruvon.runtime.leases import keeper

    leases = keeper()
    leases.hold(top)  # the woken parent's lease lives as long as the child runs
    child.driven = True
    try:
        result = await operation()
        await child.run()  # a child runs on to its next stop: its parent waits for that
    finally:
        child.driven = False
        leases.drop(top)
        try:
            await top.run()
        except Exception:
            log.exception("workflow %s could not be driven on after %s", top.id, child.id)
    return result


async def cancel_child(wf: Workflow, reason: str) -> None:
    """A parent is cancelled while it waits for a child: cancel the child too (or ask its
    runner to)."""
    child_id = waited_child(wf)
    if child_id is None or wf.builder is None:
        return
    child = await load(wf, child_id)
    if child.status.is_finished or child.status in (S.COMPENSATING,):
        return
    if child.status is S.WAITING_COMPENSATION_APPROVAL:
        return
    await child.cancel(f"parent workflow {wf.id} cancelled: {reason}")


async def check_cancellable(wf: Workflow) -> None:
    """A workflow whose child is rolling back or waits for an approval of a compensation can
    not be cancelled until that is settled (the child's unwind comes first)."""
    child_id = waited_child(wf)
    if child_id is None or wf.builder is None:
        return
    child = await load(wf, child_id)
    if child.status in (S.WAITING_COMPENSATION_APPROVAL, S.COMPENSATING):
        from ruvon.errors import IllegalOperationError

        what = (
            "waits for a compensation to be approved or rejected"
            if child.status is S.WAITING_COMPENSATION_APPROVAL
            else "is rolling back"
        )
        raise IllegalOperationError(
            f"workflow '{wf.id}' can not be cancelled now: its child workflow '{child.id}' "
            f"{what}; settle that first (the parent then goes on by itself)",
            workflow_id=wf.id,
            status=wf.status.value,
        )


async def retry_child(child: Workflow) -> S:
    """``retry()`` of a child whose parent failed because of it (``FAILED_CHILD_WORKFLOW``, or
    ``COMPENSATION_FAILED`` because the child could not be rolled back): the child is retried,
    then its parent, which goes on with the child as it now is (it does not start a new one)."""
    from ruvon.runtime import runner

    parent = await _waiting_parent(child)
    child.driven = True
    try:
        status = await runner.retry(child)
    finally:
        child.driven = False
    if parent is not None:
        await parent.retry()
    return status


async def _waiting_parent(child: Workflow) -> Workflow | None:
    """The parent that failed because of ``child`` and takes it back on its ``retry()``."""
    parent_id = child.metadata.get(PARENT_KEY)
    if parent_id is None or child.builder is None:
        return None
    try:
        parent = await load_related(child, parent_id)
    except Exception:  # a parent gone or unreadable: the child is retried on its own
        return None
    if parent.status not in (S.FAILED_CHILD_WORKFLOW, S.COMPENSATION_FAILED):
        return None
    ran = (child_of_record(r.result) for r in parent.history if r.status is StepStatus.FAILED)
    return parent if child.id in ran else None
