"""What the dashboard's JSON API returns and accepts (the pages render the same objects).

Pydantic models, so the OpenAPI document at ``/openapi.json`` describes every field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ruvon.status import WorkflowStatus

S = WorkflowStatus

Action = Literal["resume", "approve", "reject", "retry", "cancel"]

# which operator action each status allows (the Workflow methods accept exactly these)
ACTIONS: dict[Action, frozenset[WorkflowStatus]] = {
    "resume": frozenset({S.PAUSED, S.WAITING_HUMAN, S.WAITING_CHILD_HUMAN_INPUT}),
    "approve": frozenset({S.WAITING_COMPENSATION_APPROVAL}),
    "reject": frozenset({S.WAITING_COMPENSATION_APPROVAL}),
    "retry": frozenset({S.FAILED, S.COMPENSATION_FAILED, S.FAILED_CHILD_WORKFLOW}),
    "cancel": frozenset(
        {
            S.ACTIVE,
            S.PAUSED,
            S.WAITING_HUMAN,
            S.PENDING_ASYNC,
            S.PENDING_SUB_WORKFLOW,
            S.WAITING_CHILD_HUMAN_INPUT,
        }
    ),
}


def actions_for(status: WorkflowStatus) -> list[Action]:
    return [name for name, statuses in ACTIONS.items() if status in statuses]


class ErrorInfo(BaseModel):
    type: str
    message: str
    step: str | None = None
    traceback: str | None = None


class WorkflowSummary(BaseModel):
    """One row of the workflow list."""

    id: str
    workflow_type: str
    workflow_version: str
    status: WorkflowStatus
    current_step: int
    current_step_name: str | None = Field(description="None once past the last step")
    saga_mode: bool
    created_at: float = Field(description="POSIX seconds")
    updated_at: float = Field(description="POSIX seconds")
    parent_id: str | None = None
    error: ErrorInfo | None = None


class WorkflowList(BaseModel):
    """One page of workflows, newest first, with the counts the status filters show."""

    items: list[WorkflowSummary]
    counts: dict[WorkflowStatus, int] = Field(
        description="workflows per status (of the type filter, if any); all statuses, zeros too"
    )
    total: int = Field(description="workflows that match the filters")
    offset: int
    limit: int
    next_offset: int | None = Field(description="offset of the next page; None on the last")
    status: WorkflowStatus | None = None
    workflow_type: str | None = None


class StepAttempt(BaseModel):
    """One attempt of a step, in the order they ran."""

    seq: int
    scope: str
    step_name: str
    step_index: int
    attempt: int
    status: str
    started_at: float
    ended_at: float | None = None
    duration_ms: float | None = None
    result: dict[str, Any] | None = Field(
        None, description="the dict the step returned: the state fields it changed"
    )
    error: ErrorInfo | None = None
    item: Any = None
    state_after: dict[str, Any] | None = Field(
        None,
        description="the whole state this attempt left (top-level steps that completed; none "
        "for loop body steps, failed attempts, attempts written by an older Ruvon, and states "
        "over the size limit)",
    )


class CompensationEntry(BaseModel):
    """One entry of the compensation journal, in unwind order."""

    sequence: int
    forward_seq: int
    scope: str
    step_name: str
    function: str | None = None
    status: str
    started_at: float
    ended_at: float | None = None
    duration_ms: float | None = None
    attempts: int
    error: ErrorInfo | None = None
    detail: str | None = None
    decided_by: str | None = None
    result: dict[str, Any] | None = None


class AuditEntry(BaseModel):
    """A status change."""

    from_status: str | None = None
    to_status: str
    at: float
    reason: str | None = None


class GraphStep(BaseModel):
    """A top-level step of the definition and where the workflow stands with it."""

    index: int
    name: str
    type: str
    compensate_function: str | None = None
    requires_approval: bool = False
    mark: Literal["pending", "current", "done", "failed", "compensated", "skipped"]


class WorkflowDetail(WorkflowSummary):
    """One workflow: its state, history, journal, what it waits for and what may be done."""

    state: dict[str, Any]
    metadata: dict[str, Any]
    idempotency_key: str | None = None
    owner_id: str | None = None
    cancel_requested: str | None = None
    history: list[StepAttempt]
    compensations: list[CompensationEntry]
    audit: list[AuditEntry]
    waiting_for: dict[str, Any] | None = Field(
        None, description="Workflow.waiting_for: the step, its input_model's JSON schema, ..."
    )
    actions: list[Action] = Field(description="the operator actions its status allows")
    steps: list[GraphStep]
    mermaid: str = Field(description="Mermaid flowchart of the definition, current step marked")
    load_error: str | None = Field(
        None,
        description="why this process could not load the definition (then no input form)",
    )


class ResumeRequest(BaseModel):
    input: dict[str, Any] = Field(default_factory=dict, description="the user input")


class DecisionRequest(BaseModel):
    decided_by: str | None = None
    reason: str | None = None


class CancelRequest(BaseModel):
    reason: str | None = None


class ActionResult(BaseModel):
    workflow_id: str
    action: Action
    status: WorkflowStatus = Field(description="the status after the action")
    cancel_requested: str | None = Field(
        None, description="set when another runner holds the workflow: it cancels it next"
    )


class Problem(BaseModel):
    """An error answer."""

    detail: str
