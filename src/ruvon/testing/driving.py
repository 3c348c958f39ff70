"""Advancing a workflow to where it stops, giving each step the input a test prepared for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ruvon.errors import IllegalOperationError
from ruvon.status import WorkflowStatus as S
from ruvon.workflow import Workflow

# next_step() calls one drive may make: a workflow still going after that loops for ever
MAX_CALLS = 10_000


def waiting_step(wf: Workflow) -> str | None:
    """The step a waiting workflow wants input for, as ``workflow.waiting_for`` says;
    ``None`` when it waits for something else (a task, a child, an approval)."""
    info = wf.waiting_for
    if isinstance(info, Mapping):
        step = info.get("step")
        return step if isinstance(step, str) else None
    return None


async def drive(
    wf: Workflow,
    inputs: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    approver: str | None = None,
) -> S:
    """Call ``next_step()`` until the workflow finishes or waits for what ``inputs`` lacks.

    ``inputs`` maps a step name to the ``user_input`` for that step: given when the cursor is on
    the step, or when the workflow waits for input for it; each at most once. With
    ``approver`` a compensation waiting for approval is approved in that name. Returns the
    status it stopped in. A step's failure does not raise: it ends in a failure status.
    """
    pending = {name: dict(data) for name, data in (inputs or {}).items()}
    for _ in range(MAX_CALLS):
        status = wf.status
        if status is S.ACTIVE or status is S.COMPENSATING:
            name = wf.current_step_name if status is S.ACTIVE else None
            await wf.next_step(pending.pop(name, None) if name is not None else None)
            continue
        if status is S.WAITING_COMPENSATION_APPROVAL and approver is not None:
            await wf.approve_compensation(decided_by=approver)
            continue
        if status.is_waiting:
            name = waiting_step(wf)
            if name is not None and name in pending:
                await wf.next_step(pending.pop(name))
                continue
        return status
    raise IllegalOperationError(
        f"workflow '{wf.id}' was still {wf.status.value} after {MAX_CALLS} next_step() calls; "
        "does it jump back for ever?",
        workflow_id=wf.id,
        status=wf.status.value,
    )
