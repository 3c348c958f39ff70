"""The observer contract: workflow and step events for logging, metrics and tracing."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from ruvon.models import WorkflowError


class EventKind(StrEnum):
    """Everything an observer can be told about."""

    WORKFLOW_STARTED = "workflow_started"
    WORKFLOW_COMPLETED = "workflow_completed"
    WORKFLOW_FAILED = "workflow_failed"
    WORKFLOW_ROLLED_BACK = "workflow_rolled_back"
    WORKFLOW_CANCELLED = "workflow_cancelled"
    STATUS_CHANGED = "status_changed"
    STEP_STARTED = "step_started"
    STEP_COMPLETED = "step_completed"
    STEP_FAILED = "step_failed"
    STEP_RETRIED = "step_retried"
    COMPENSATION_STARTED = "compensation_started"
    COMPENSATION_COMPLETED = "compensation_completed"
    COMPENSATION_FAILED = "compensation_failed"
    COMPENSATION_SKIPPED = "compensation_skipped"
    PAUSED = "paused"
    RESUMED = "resumed"


@dataclass(slots=True)
class WorkflowEvent:
    """One event. New fields may be added; observers should ignore what they do not know.

    ``scope`` is the scope path of the step or compensation the event is about (a top-level
    step's is its name; a loop body's step ``"Items/iter:2/Reserve"``; see
    :class:`~ruvon.models.ScopePath`); ``parent_id`` is the id of the workflow that started
    this one (a SUB_WORKFLOW step, a directive, a fire-and-forget step), on every event.
    """

    kind: EventKind
    workflow_id: str
    workflow_type: str
    status: str
    step_name: str | None = None
    attempt: int | None = None
    duration_ms: float | None = None
    error: WorkflowError | None = None
    previous_status: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    scope: str | None = None
    parent_id: str | None = None


@runtime_checkable
class WorkflowObserver(Protocol):
    """Receives events. ``wants`` lets the engine skip building events nobody reads."""

    def wants(self, kind: EventKind) -> bool:
        """Whether :meth:`on_event` should be called for events of ``kind``. Called on the
        engine's hot path and not guarded there: keep it cheap, and never raise (inside a
        ``CompositeObserver`` an exception is logged and skips this observer)."""

    async def on_event(self, event: WorkflowEvent) -> None:
        """Handle one event. Exceptions are logged and never fail the workflow."""


@runtime_checkable
class RecoveryObserver(Protocol):
    """What an observer may implement besides :class:`WorkflowObserver` to count recoveries.

    After each recovery pass (``builder.recover()``, ``ruvon recover``), the builder's observer
    gets the pass's :class:`ruvon.recovery.RecoveryReport`: the workflows continued, handed
    back, marked failed, left for a later pass, or taken by another runner.
    """

    async def on_recovery(self, report: Any) -> None:
        """Handle one pass's report. Exceptions are logged and never fail the recovery."""
