"""Workflow statuses and the one table of allowed transitions between them."""

from __future__ import annotations

from enum import StrEnum

from ruvon.errors import IllegalTransitionError


class WorkflowStatus(StrEnum):
    """Where a workflow is in its life. A ``str`` enum: ``status == "ACTIVE"`` holds."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    WAITING_HUMAN = "WAITING_HUMAN"
    PENDING_ASYNC = "PENDING_ASYNC"
    PENDING_SUB_WORKFLOW = "PENDING_SUB_WORKFLOW"
    WAITING_CHILD_HUMAN_INPUT = "WAITING_CHILD_HUMAN_INPUT"
    COMPENSATING = "COMPENSATING"
    WAITING_COMPENSATION_APPROVAL = "WAITING_COMPENSATION_APPROVAL"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    FAILED_ROLLED_BACK = "FAILED_ROLLED_BACK"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    FAILED_CHILD_WORKFLOW = "FAILED_CHILD_WORKFLOW"
    CANCELLED = "CANCELLED"

    @property
    def is_finished(self) -> bool:
        """The workflow stopped: nothing runs it again unless an operator calls ``retry()``
        (which ``FAILED``, ``COMPENSATION_FAILED`` and ``FAILED_CHILD_WORKFLOW`` allow)."""
        return self in TERMINAL

    @property
    def is_terminal(self) -> bool:
        """The same as :attr:`is_finished` (the name other Ruvon material uses). A terminal
        status is not always final: see :attr:`is_final`."""
        return self in TERMINAL

    @property
    def is_final(self) -> bool:
        """No transition leaves this status, ``retry()`` included (a ``COMPLETED`` child
        workflow is still unwound when its parent rolls back: that is not the child's own
        doing)."""
        return not (TRANSITIONS[self] - _BY_PARENT.get(self, frozenset()))

    @property
    def is_waiting(self) -> bool:
        """The workflow waits for something outside the runner (a human, a task, a child)."""
        return self in WAITING


S = WorkflowStatus

# The only place that says which status may follow which. ``FAILED``, ``COMPENSATION_FAILED`` and
# ``FAILED_CHILD_WORKFLOW`` are final unless an operator calls ``retry()``.
TRANSITIONS: dict[WorkflowStatus, frozenset[WorkflowStatus]] = {
    S.ACTIVE: frozenset(
        {
            S.PAUSED,
            S.WAITING_HUMAN,
            S.PENDING_ASYNC,
            S.PENDING_SUB_WORKFLOW,
            S.WAITING_CHILD_HUMAN_INPUT,
            S.COMPENSATING,
            S.COMPLETED,
            S.FAILED,
            S.FAILED_CHILD_WORKFLOW,
            S.CANCELLED,
        }
    ),
    S.PAUSED: frozenset({S.ACTIVE, S.COMPLETED, S.FAILED, S.COMPENSATING, S.CANCELLED}),
    # stopped at a HUMAN_IN_LOOP step (PAUSED: a step asked to wait); resumed the same way
    S.WAITING_HUMAN: frozenset({S.ACTIVE, S.COMPLETED, S.FAILED, S.COMPENSATING, S.CANCELLED}),
    S.PENDING_ASYNC: frozenset({S.ACTIVE, S.COMPLETED, S.FAILED, S.COMPENSATING, S.CANCELLED}),
    # a parent whose runner drives its child (it keeps a lease: recovery continues it if the
    # runner dies); the child's outcome moves it on, to whatever follows the step
    S.PENDING_SUB_WORKFLOW: frozenset(
        {
            S.ACTIVE,
            S.PAUSED,
            S.WAITING_HUMAN,
            S.WAITING_CHILD_HUMAN_INPUT,
            S.COMPLETED,
            S.FAILED,
            S.FAILED_CHILD_WORKFLOW,
            S.COMPENSATING,
            S.CANCELLED,
        }
    ),
    # a child (or a descendant) waits for a person: resuming it moves the parent back to
    # PENDING_SUB_WORKFLOW first
    S.WAITING_CHILD_HUMAN_INPUT: frozenset({S.PENDING_SUB_WORKFLOW, S.COMPENSATING, S.CANCELLED}),
    S.COMPENSATING: frozenset(
        {
            S.FAILED_ROLLED_BACK,
            S.COMPENSATION_FAILED,
            S.WAITING_COMPENSATION_APPROVAL,
            S.CANCELLED,
        }
    ),
    S.WAITING_COMPENSATION_APPROVAL: frozenset({S.COMPENSATING}),
    # only a parent that rolls back unwinds a completed child (a nested saga)
    S.COMPLETED: frozenset({S.COMPENSATING}),
    S.FAILED: frozenset({S.ACTIVE}),
    S.FAILED_ROLLED_BACK: frozenset(),
    S.COMPENSATION_FAILED: frozenset({S.COMPENSATING}),
    S.FAILED_CHILD_WORKFLOW: frozenset({S.ACTIVE, S.COMPENSATING}),
    S.CANCELLED: frozenset(),
}

# transitions only a parent workflow makes its child take
_BY_PARENT = {S.COMPLETED: frozenset({S.COMPENSATING})}

TERMINAL = frozenset(
    {
        S.COMPLETED,
        S.FAILED,
        S.FAILED_ROLLED_BACK,
        S.COMPENSATION_FAILED,
        S.FAILED_CHILD_WORKFLOW,
        S.CANCELLED,
    }
)
WAITING = frozenset(
    {
        S.PAUSED,
        S.WAITING_HUMAN,
        S.PENDING_ASYNC,
        S.PENDING_SUB_WORKFLOW,
        S.WAITING_CHILD_HUMAN_INPUT,
        S.WAITING_COMPENSATION_APPROVAL,
    }
)


def check_transition(
    source: WorkflowStatus, target: WorkflowStatus, workflow_id: str | None = None
) -> WorkflowStatus:
    """Return ``target`` if the table allows ``source -> target``; raise otherwise."""
    if target not in TRANSITIONS[source]:
        raise IllegalTransitionError(source, target, workflow_id)
    return target
