"""What a waiting workflow waits for: input, a person, or an operator's approval."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ruvon.runtime import cursor, saga
from ruvon.runtime.runner import INPUT_WAITS
from ruvon.status import WorkflowStatus as S
from ruvon.steps import subworkflow

if TYPE_CHECKING:
    from ruvon.workflow import Workflow


def describe(wf: Workflow) -> dict[str, Any] | None:
    """For input (``PAUSED``, ``WAITING_HUMAN``): the step that will take the input (inside a
    loop: the body's step), its type, its ``input_model`` as a JSON schema (``None`` when it
    takes no model), and what a pausing step said (``reason``, from
    ``WorkflowPauseDirective(waiting_for=...)``). For an approval
    (``WAITING_COMPENSATION_APPROVAL``): the step and scope whose compensation waits. For a
    child that waits (``WAITING_CHILD_HUMAN_INPUT``): the step and the child's id. ``None``
    for a workflow that does not wait for any of these."""
    if wf.status is S.WAITING_COMPENSATION_APPROVAL:
        record = saga.awaiting_approval(wf)
        return {
            "status": wf.status.value,
            "step": record.step_name if record else None,
            "scope": record.scope if record else None,
            "approval": "approve_compensation() or reject_compensation()",
        }
    if wf.status is S.WAITING_CHILD_HUMAN_INPUT:
        return {
            "status": wf.status.value,
            "step": wf.current_step_name,
            "child_workflow_id": subworkflow.waited_child(wf),
            "resume": "resume(input) passes the input on to the workflow below that waits",
        }
    if wf.status not in INPUT_WAITS:
        return None
    step = cursor.leaf_step(wf)
    model = step.input_model if step is not None else None
    return {
        "status": wf.status.value,
        "step": step.name if step is not None else None,
        "step_type": step.spec.type.value if step is not None else None,
        "input_model": f"{model.__module__}.{model.__qualname__}" if model else None,
        "input_schema": model.model_json_schema() if model else None,
        "reason": cursor.pause_note(wf),
    }
