"""What the dashboard reads from the store and does to workflows, for the API and the pages.

Reads go to the store directly (a page of rows and one count query for the list; the row,
history, journal and audit log for one workflow). What a waiting workflow waits for, and every
action, go through :class:`~ruvon.workflow.Workflow` loaded by the builder, exactly as a program
would: the action runs the workflow on in this process until it waits or ends.
"""

from __future__ import annotations

from typing import Any

import orjson

from ruvon.builder import WorkflowBuilder
from ruvon.dashboard import graph
from ruvon.dashboard.models import (
    ACTIONS,
    Action,
    ActionResult,
    AuditEntry,
    CompensationEntry,
    ErrorInfo,
    StepAttempt,
    WorkflowDetail,
    WorkflowList,
    WorkflowSummary,
    actions_for,
)
from ruvon.errors import (
    IllegalOperationError,
    RuvonError,
    WorkflowNotFoundError,
    WorkflowValidationError,
)
from ruvon.models import WorkflowError
from ruvon.providers.persistence import PersistenceProvider, WorkflowRecord
from ruvon.status import WorkflowStatus

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_OFFSET = 2**63 - 1  # the largest OFFSET the SQL stores take (a signed 64-bit integer)
MAX_DEPTH = 20  # children followed down to the one that waits for input
# how deep an operator's input may nest (the input object is level 1): far below what the
# stores can read back (about 200 levels, with the state and records around it)
MAX_INPUT_DEPTH = 64


class BadRequest(ValueError):
    """A filter or paging value the dashboard does not accept."""


def parse_status(value: str | None) -> WorkflowStatus | None:
    if not value:
        return None
    try:
        return WorkflowStatus(value.strip().upper())
    except ValueError:
        known = ", ".join(s.value for s in WorkflowStatus)
        raise BadRequest(f"unknown status {value!r}: use one of {known}") from None


def known_id(workflow_id: str) -> str:
    """``workflow_id``, or ``WorkflowNotFoundError`` for one no store can hold (a NUL, which
    PostgreSQL refuses as text: it would answer a database error, not "not found")."""
    if "\x00" in workflow_id:
        raise WorkflowNotFoundError(workflow_id)
    return workflow_id


def check_input(value: Any, what: str) -> None:
    """Refuse (``WorkflowValidationError``) an operator's value no store can keep: one nested
    deeper than :data:`MAX_INPUT_DEPTH`, or a string (a key too) with a NUL character, which
    PostgreSQL can not hold in text or JSON. Checked before the workflow is touched."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise WorkflowValidationError(f"{what} holds a NUL character: no store keeps one")
        elif isinstance(item, dict | list):
            if depth > MAX_INPUT_DEPTH:
                raise WorkflowValidationError(
                    f"{what} is nested more than {MAX_INPUT_DEPTH} levels deep"
                )
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def _error(error: WorkflowError | None) -> ErrorInfo | None:
    return ErrorInfo(**error.to_dict()) if error else None


def _step_name(record: WorkflowRecord) -> str | None:
    steps = record.definition.get("steps")
    if isinstance(steps, list) and 0 <= record.current_step < len(steps):
        step = steps[record.current_step]
        name = step.get("name") if isinstance(step, dict) else None
        return str(name) if name is not None else None
    return None


def summary(record: WorkflowRecord) -> WorkflowSummary:
    return WorkflowSummary(
        id=record.id,
        workflow_type=record.workflow_type,
        workflow_version=record.workflow_version,
        status=record.status,
        current_step=record.current_step,
        current_step_name=_step_name(record),
        saga_mode=record.saga_mode,
        created_at=record.created_at,
        updated_at=record.updated_at,
        parent_id=record.parent_id,
        error=_error(record.error),
    )


def _approval_step(status: WorkflowStatus, waiting_for: dict[str, Any] | None) -> str | None:
    """The top-level step whose compensation waits for an operator's approval."""
    if status is not WorkflowStatus.WAITING_COMPENSATION_APPROVAL or not waiting_for:
        return None
    scope = waiting_for.get("scope") or waiting_for.get("step")
    return str(scope).split("/", 1)[0] if scope else None


class Dashboard:
    """The dashboard's operations over one store (and the builder that loads workflows)."""

    def __init__(self, store: PersistenceProvider, builder: WorkflowBuilder) -> None:
        self.store = store
        self.builder = builder

    async def page(
        self,
        *,
        status: WorkflowStatus | None = None,
        workflow_type: str | None = None,
        offset: int = 0,
        limit: int = PAGE_SIZE,
    ) -> WorkflowList:
        """One page of the list and the per-status counts: two queries, whatever the store
        holds."""
        if not 0 <= offset <= MAX_OFFSET or not 1 <= limit <= MAX_PAGE_SIZE:
            raise BadRequest(f"offset must be 0 to {MAX_OFFSET} and limit 1 to {MAX_PAGE_SIZE}")
        workflow_type = workflow_type or None
        rows: list[WorkflowRecord] = []
        counted: dict[WorkflowStatus, int] = {}
        if workflow_type is None or "\x00" not in workflow_type:  # no type has a NUL
            rows = await self.store.list_workflows(
                status=status, workflow_type=workflow_type, limit=limit, offset=offset
            )
            counted = await self.store.count_workflows(workflow_type=workflow_type)
        counts = {s: counted.get(s, 0) for s in WorkflowStatus}
        total = counts[status] if status else sum(counts.values())
        return WorkflowList(
            items=[summary(r) for r in rows],
            counts=counts,
            total=total,
            offset=offset,
            limit=limit,
            next_offset=offset + limit if offset + limit < total else None,
            status=status,
            workflow_type=workflow_type,
        )

    async def detail(self, workflow_id: str) -> WorkflowDetail:
        """Everything the store knows about one workflow (``WorkflowNotFoundError`` if none)."""
        record = await self.store.load_workflow(known_id(workflow_id))
        history = await self.store.step_history(workflow_id)
        states = await self.store.step_states(workflow_id)
        journal = await self.store.compensation_journal(workflow_id)
        audit = await self.store.audit_log(workflow_id)
        waiting_for, load_error = None, None
        if record.status.is_waiting:
            try:
                waiting_for = await self._waiting_for(workflow_id)
            except RuvonError as exc:  # its functions can not be imported here, typically
                load_error = str(exc)
        spec = graph.parse_spec(record.definition, f"definition of workflow '{record.id}'")
        steps = graph.mark_steps(
            spec.steps if spec else (),
            status=record.status,
            current_step=record.current_step,
            history=history,
            journal=journal,
            awaiting=_approval_step(record.status, waiting_for),
        )
        return WorkflowDetail(
            **summary(record).model_dump(),
            state=orjson.loads(record.state),
            metadata=record.metadata,
            idempotency_key=record.idempotency_key,
            owner_id=record.owner_id,
            cancel_requested=record.cancel_requested,
            history=[
                StepAttempt(
                    seq=r.seq,
                    scope=r.scope,
                    step_name=r.step_name,
                    step_index=r.step_index,
                    attempt=r.attempt,
                    status=r.status.value,
                    started_at=r.started_at,
                    ended_at=r.ended_at,
                    duration_ms=r.duration_ms,
                    result=r.result,
                    error=_error(r.error),
                    item=r.item,
                    state_after=orjson.loads(states[r.seq]) if r.seq in states else None,
                )
                for r in history
            ],
            compensations=[
                CompensationEntry(
                    sequence=e.sequence,
                    forward_seq=e.forward_seq,
                    scope=e.scope,
                    step_name=e.step_name,
                    function=e.function,
                    status=e.status.value,
                    started_at=e.started_at,
                    ended_at=e.ended_at,
                    duration_ms=e.duration_ms,
                    attempts=e.attempts,
                    error=_error(e.error),
                    detail=e.detail,
                    decided_by=e.decided_by,
                    result=e.result,
                )
                for e in journal
            ],
            audit=[AuditEntry(**entry) for entry in audit],
            waiting_for=waiting_for,
            actions=actions_for(record.status),
            steps=steps,
            mermaid=graph.mermaid(spec, steps, record.status is WorkflowStatus.COMPLETED),
            load_error=load_error,
        )

    async def _waiting_for(self, workflow_id: str) -> dict[str, Any] | None:
        """``Workflow.waiting_for``; for a parent whose child waits, the child's own under
        ``"waiting"`` (with its ``workflow_id``), down to the workflow that takes the input."""
        wait = (await self.builder.load_workflow(workflow_id)).waiting_for
        node = wait
        for _ in range(MAX_DEPTH):
            child_id = node.get("child_workflow_id") if node else None
            if not isinstance(child_id, str):
                break
            inner = (await self.builder.load_workflow(child_id)).waiting_for
            if inner is None:
                break
            node["waiting"] = {**inner, "workflow_id": child_id}  # type: ignore[index]
            node = node["waiting"]  # type: ignore[index]
        return wait

    async def act(
        self,
        workflow_id: str,
        action: Action,
        *,
        user_input: dict[str, Any] | None = None,
        decided_by: str | None = None,
        reason: str | None = None,
    ) -> ActionResult:
        """Do ``action`` to the workflow; the Workflow method's errors pass through
        (``WorkflowNotFoundError``, ``IllegalOperationError``, ``WorkflowValidationError``,
        ``ConcurrentModificationError``); a value no store can keep (see :func:`check_input`)
        is refused before the workflow is loaded."""
        check_input(user_input, "the input")
        check_input(decided_by, "decided_by")
        check_input(reason, "the reason")
        wf = await self.builder.load_workflow(known_id(workflow_id))
        if wf.status not in ACTIONS[action]:
            raise IllegalOperationError(
                f"workflow '{wf.id}' is {wf.status.value}: {action} is not possible now",
                workflow_id=wf.id,
                status=wf.status.value,
            )
        if action == "resume":
            await wf.resume(user_input or {})
        elif action == "approve":
            await wf.approve_compensation(decided_by=decided_by, reason=reason)
        elif action == "reject":
            await wf.reject_compensation(decided_by=decided_by, reason=reason)
        elif action == "retry":
            await wf.retry()
        else:
            await wf.cancel(reason)
        return ActionResult(
            workflow_id=wf.id,
            action=action,
            status=wf.status,
            cancel_requested=wf.cancel_requested,
        )
