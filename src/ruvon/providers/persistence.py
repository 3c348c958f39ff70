"""The persistence contract: a store writes each workflow transition in one transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import orjson

from ruvon.models import CompensationRecord, StepRecord, WorkflowError
from ruvon.status import WorkflowStatus


def snapshot_digest(snapshot: Mapping[str, Any]) -> str:
    """The SHA-256 of a definition snapshot's canonical JSON (keys sorted): its identity, under
    which a store keeps the snapshot once for all the workflows pinned to it."""
    return hashlib.sha256(orjson.dumps(snapshot, option=orjson.OPT_SORT_KEYS)).hexdigest()


RECOVERABLE = frozenset(
    {WorkflowStatus.ACTIVE, WorkflowStatus.COMPENSATING, WorkflowStatus.PENDING_SUB_WORKFLOW}
)
"""Statuses in which a runner holds the lease while it works (a parent waiting for a child is
driving it): with the lease expired, the runner died and recovery continues the workflow."""

RECOVERY_FAILED = "ruvon:recovery-failed"
"""The ``lease_owner`` of a workflow recovery could not continue (it can not be loaded, or the
engine failed on it): a lease that never expires, so later passes skip the row until an operator
retries it (``ruvon recover --include-failed``). No runner id looks like it (``host:pid:n``)."""


@dataclass(slots=True, kw_only=True)
class WorkflowRecord:
    """Everything a store keeps on the execution row of one workflow.

    ``state`` is the JSON of the state model; ``definition`` the definition snapshot the instance
    is pinned to; ``version`` counts committed transitions (optimistic concurrency).
    ``frames`` is the rest of the cursor: the stack of positions inside nested step types (a
    loop iteration, a parallel task) that ``current_step`` alone can not say. Each frame is
    JSON the store keeps as it is; a row written before frames existed has none.
    """

    id: str
    workflow_type: str
    workflow_version: str
    status: WorkflowStatus
    state: bytes
    current_step: int
    saga_mode: bool
    definition: dict[str, Any]
    idempotency_key: str | None = None
    parent_id: str | None = None
    owner_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    error: WorkflowError | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    version: int = 0
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    cancel_requested: str | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Transition:
    """One durable step of a workflow's life, written atomically by :meth:`commit`.

    It moves the row from ``expected_version`` to ``expected_version + 1``, sets the lease
    (``lease_owner`` ``None`` releases it), and upserts the step attempts and
    compensation-journal entries it carries (keyed by ``seq`` and by journal ``sequence``).
    A change of status is also written to the audit log, and ``metrics`` to the metrics table.
    ``previous_status`` must be the status the row has at ``expected_version`` (the version
    check vouches for the rest): the audit log records it, and a store may skip rewriting an
    unchanged status. The write goes through the lease: it is refused unless the row's lease is
    free, expired (before ``updated_at``) or held by ``runner_id``. ``frames`` replaces the
    row's frames (see :class:`WorkflowRecord`) with the state, in the same write: the cursor
    and the state it points into never disagree.
    """

    workflow_id: str
    expected_version: int
    runner_id: str
    previous_status: WorkflowStatus
    status: WorkflowStatus
    state: bytes
    current_step: int
    saga_mode: bool
    error: WorkflowError | None
    updated_at: float
    steps: Sequence[StepRecord] = ()
    compensations: Sequence[CompensationRecord] = ()
    reason: str | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    metrics: tuple[tuple[str, float], ...] = ()
    frames: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class ScheduleRecord:
    """A recurring start of a workflow type, kept by name (``ruvon scheduler`` runs it).

    ``workflow_version`` ``None`` starts the highest version the scheduler knows;
    ``initial_data`` is the JSON the started workflows get. ``next_due_at`` is the tick a
    scheduler starts next (a POSIX timestamp), ``last_tick_at`` the tick started last; a
    scheduler moves both in one compare-and-set (:meth:`PersistenceProvider.claim_schedule_tick`).
    """

    name: str
    workflow_type: str
    cron_expression: str
    next_due_at: float
    workflow_version: str | None = None
    initial_data: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    last_tick_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


@runtime_checkable
class PersistenceProvider(Protocol):
    """Where workflows live. Every method is safe to call without :meth:`initialize` first."""

    async def initialize(self) -> None:
        """Open connections and create or migrate the schema (idempotent)."""

    async def close(self) -> None:
        """Release connections."""

    async def create_workflow(self, record: WorkflowRecord) -> WorkflowRecord:
        """Insert ``record``; if its ``idempotency_key`` exists, return the existing workflow."""

    async def commit(self, transition: Transition) -> str | None:
        """Apply ``transition`` atomically, or raise ``ConcurrentModificationError``.

        Returns the reason of a pending cancellation request (:meth:`request_cancel`), if any;
        a transition out of ``ACTIVE``/``PAUSED`` clears it.
        """

    async def request_cancel(self, workflow_id: str, reason: str) -> bool:
        """Record that an operator wants the workflow cancelled, without the lease and without
        a version change; ``False`` if it is finished. The runner holding the lease reads it
        back with its next commit."""

    async def claim(
        self, workflow_id: str, expected_version: int, owner: str, expires_at: float, now: float
    ) -> None:
        """Take the lease (bumping the version) if it is free, ours, or expired.

        Raises ``ConcurrentModificationError`` if the version moved or another runner holds an
        unexpired lease.
        """

    async def renew_lease(self, workflow_id: str, owner: str, expires_at: float) -> bool:
        """Extend a lease we hold (no version change); ``False`` if it is no longer ours."""

    def renew_leases_blocking(self, leases: list[tuple[str, str, float]]) -> set[str]:
        """Extend several leases ``(workflow_id, owner, expires_at)`` from another thread.

        Called by the lease keeper's thread while the event loop may be busy in a synchronous
        step, so it blocks and uses a connection of its own. Returns the ids still owned (and
        extended).
        """

    async def find_recoverable(self, now: float, limit: int = 100) -> list[str]:
        """Ids of workflows in a :data:`RECOVERABLE` status whose lease expired before ``now``."""

    async def claim_for_recovery(
        self, workflow_id: str, owner: str, expires_at: float, now: float, *, failed: bool = False
    ) -> bool:
        """Take the lease of an abandoned workflow, in one atomic step; ``False`` if it is not.

        Abandoned: in a :data:`RECOVERABLE` status with a lease that expired before ``now`` (with
        ``failed``: one marked :data:`RECOVERY_FAILED` instead). Bumps the version. A workflow
        another runner finished or claimed in the meantime is left untouched.
        """

    async def mark_recovery_failed(self, workflow_id: str, owner: str) -> bool:
        """Replace ``owner``'s lease by the :data:`RECOVERY_FAILED` marker (never expires, so
        automatic recovery skips the row); ``False`` if ``owner`` no longer holds the lease."""

    async def find_recovery_failed(self, limit: int = 100) -> list[str]:
        """Ids of workflows in a :data:`RECOVERABLE` status marked :data:`RECOVERY_FAILED`."""

    async def load_workflow(self, workflow_id: str) -> WorkflowRecord:
        """The execution row, or ``WorkflowNotFoundError``."""

    async def list_workflows(
        self,
        *,
        status: WorkflowStatus | None = None,
        workflow_type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[WorkflowRecord]:
        """Workflows, newest first (the id, descending, breaks ties), optionally filtered;
        ``offset`` skips that many of them (the next page)."""

    async def count_workflows(
        self, *, workflow_type: str | None = None
    ) -> dict[WorkflowStatus, int]:
        """How many workflows each status has, optionally of one type only; a status no
        workflow has is left out."""

    async def step_history(self, workflow_id: str) -> list[StepRecord]:
        """Every recorded step attempt, oldest first."""

    async def step_states(self, workflow_id: str) -> dict[int, bytes | str]:
        """The state's JSON after each completed step attempt, by the attempt's ``seq``
        (attempts recorded before stores kept it have none)."""

    async def compensation_journal(self, workflow_id: str) -> list[CompensationRecord]:
        """The compensation journal, in unwind order."""

    async def log_execution(
        self,
        workflow_id: str,
        log_level: str,
        message: str,
        step_name: str | None = None,
        **extra: Any,
    ) -> None:
        """Append a line to the workflow's execution log."""

    async def metrics(self, workflow_id: str) -> list[tuple[str, float]]:
        """Metrics recorded for the workflow, as ``(name, value)``, oldest first."""

    async def execution_logs(self, workflow_id: str) -> list[dict[str, Any]]:
        """The execution log, oldest first."""

    async def audit_log(self, workflow_id: str) -> list[dict[str, Any]]:
        """Status changes (from, to, when, reason), oldest first."""

    async def upsert_schedule(self, schedule: ScheduleRecord) -> None:
        """Insert the schedule, or update the one of that name. Its ``next_due_at`` is kept
        when the cron expression is unchanged and it was enabled already (registering it
        again neither skips nor repeats a tick), else replaced by ``schedule.next_due_at``.
        ``last_tick_at`` and ``created_at`` are never changed by an update."""

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Every schedule, enabled or not, by name."""

    async def claim_schedule_tick(
        self, name: str, *, expected_due_at: float, tick_at: float, next_due_at: float, now: float
    ) -> bool:
        """Take one tick of an enabled schedule, atomically: only while its ``next_due_at``
        is still ``expected_due_at``, set ``last_tick_at`` to ``tick_at`` and ``next_due_at``
        to ``next_due_at``. ``False`` if another scheduler took it first, or the schedule
        changed, was disabled or is gone."""
