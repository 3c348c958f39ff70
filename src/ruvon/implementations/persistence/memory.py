"""A store in process memory: for tests, the tutorial, and embedded runs that need no durability.

It keeps the same records a SQL store keeps (state as JSON bytes, step attempts, compensation
journal, logs, audit), checks versions the same way, and needs no ``initialize()``.
"""

from __future__ import annotations

import copy
import heapq
import time
from collections import Counter
from typing import Any

import pydantic_core

from ruvon.errors import ConcurrentModificationError, PersistenceError, WorkflowNotFoundError
from ruvon.implementations.persistence.memory_schedules import MemorySchedules
from ruvon.models import CompensationRecord, StepRecord
from ruvon.providers.persistence import (
    RECOVERABLE,
    RECOVERY_FAILED,
    Transition,
    WorkflowRecord,
)
from ruvon.runtime.attempts import private_copy
from ruvon.status import WorkflowStatus


def _clone(row: WorkflowRecord, *, definition: bool = True) -> WorkflowRecord:
    """A copy that shares nothing mutable with ``row`` (the state is immutable bytes).

    ``definition=False`` keeps the definition snapshot shared: on the way in, where it is the
    builder's own snapshot, never changed, and too big to copy for every new workflow.
    """
    r = row
    return WorkflowRecord(
        id=r.id,
        workflow_type=r.workflow_type,
        workflow_version=r.workflow_version,
        status=r.status,
        state=r.state,
        current_step=r.current_step,
        saga_mode=r.saga_mode,
        definition=copy.deepcopy(r.definition) if definition else r.definition,
        idempotency_key=r.idempotency_key,
        parent_id=r.parent_id,
        owner_id=r.owner_id,
        metadata=copy.deepcopy(r.metadata) if r.metadata else {},
        error=r.error,
        created_at=r.created_at,
        updated_at=r.updated_at,
        version=r.version,
        lease_owner=r.lease_owner,
        lease_expires_at=r.lease_expires_at,
        cancel_requested=r.cancel_requested,
        frames=_copy_frames(r.frames),
    )


_SHARED = frozenset({type(None), str, int, float, bool})  # immutable: nothing to copy


def _copy_json(value: Any) -> Any:
    """A private copy of a JSON value (an attempt's item); scalars are shared."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    return pydantic_core.from_json(pydantic_core.to_json(value))


def _copy_frames(frames: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Frames are JSON data, mostly flat (a loop's counters): copied without ``deepcopy``,
    which costs several µs at every commit of a loop."""
    return [private_copy(f) or {} for f in frames] if frames else []


def _clone_entry(e: CompensationRecord) -> CompensationRecord:
    return e.revised(result=private_copy(e.result))


def _clone_step(s: StepRecord) -> StepRecord:
    return StepRecord(
        seq=s.seq,
        scope=s.scope,
        step_name=s.step_name,
        step_index=s.step_index,
        attempt=s.attempt,
        status=s.status,
        started_at=s.started_at,
        ended_at=s.ended_at,
        result=private_copy(s.result),
        error=s.error,
        item=_copy_json(s.item),
    )


def _unstarted(row: WorkflowRecord) -> bool:
    """Created without saga mode, never started: it runs no step before its first commit, so
    whoever starts it first may take it (as in SQL)."""
    return row.version == 0 and not row.saga_mode


def _expired(row: WorkflowRecord, now: float) -> bool:
    # as in SQL, where ``NULL < now`` is not true: a lease without an expiry never expires
    return row.lease_expires_at is not None and row.lease_expires_at < now


# a cancellation request lives until the runner leaves these (as in SQL)
_KEEPS_CANCEL_REQUEST = frozenset(
    {WorkflowStatus.ACTIVE, WorkflowStatus.PAUSED, WorkflowStatus.WAITING_HUMAN}
)


class InMemoryPersistenceProvider(MemorySchedules):
    """Workflows in dictionaries. Safe for one event loop; not shared between processes."""

    def __init__(self) -> None:
        self._rows: dict[str, WorkflowRecord] = {}
        self._by_key: dict[str, str] = {}
        self._steps: dict[str, dict[int, StepRecord]] = {}
        self._states: dict[str, dict[int, bytes | str]] = {}
        self._journal: dict[str, dict[int, CompensationRecord]] = {}
        self._logs: dict[str, list[dict[str, Any]]] = {}
        self._audit: dict[str, list[dict[str, Any]]] = {}
        self._metrics: dict[str, list[tuple[str, float]]] = {}
        self.commits = 0

    async def initialize(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create_workflow(self, record: WorkflowRecord) -> WorkflowRecord:
        if record.id in self._rows:
            raise PersistenceError(f"in-memory store: a workflow with id '{record.id}' exists")
        if record.idempotency_key is not None:
            existing = self._by_key.get(record.idempotency_key)
            if existing is not None:
                return _clone(self._rows[existing])
            self._by_key[record.idempotency_key] = record.id
        stored = _clone(record, definition=False)
        self._rows[record.id] = stored
        self._steps[record.id] = {}
        self._states[record.id] = {}
        self._journal[record.id] = {}
        self._audit[record.id] = [
            {
                "from_status": None,
                "to_status": record.status.value,
                "at": record.created_at,
                "reason": "created",
            }
        ]
        self.commits += 1
        return record  # the caller's own object; the store keeps its copy

    def _row(self, workflow_id: str) -> WorkflowRecord:
        try:
            return self._rows[workflow_id]
        except KeyError:
            raise WorkflowNotFoundError(workflow_id) from None

    async def commit(self, transition: Transition) -> str | None:
        row = self._rows.get(transition.workflow_id)
        if row is None:
            raise WorkflowNotFoundError(transition.workflow_id)
        if row.version != transition.expected_version:
            raise ConcurrentModificationError(
                transition.workflow_id, transition.expected_version, row.version
            )
        held = row.lease_owner not in (None, transition.runner_id) and not _unstarted(row)
        if held and not _expired(row, transition.updated_at):
            raise ConcurrentModificationError(
                transition.workflow_id, transition.expected_version, row.version, row.lease_owner
            )
        row.status = transition.status
        row.state = transition.state
        row.current_step = transition.current_step
        row.frames = _copy_frames(transition.frames)
        row.saga_mode = transition.saga_mode
        row.error = transition.error
        row.updated_at = transition.updated_at
        row.lease_owner = transition.lease_owner
        row.lease_expires_at = transition.lease_expires_at
        row.version += 1
        if transition.metrics:
            self._metrics.setdefault(row.id, []).extend(transition.metrics)
        if transition.steps:
            steps = self._steps[row.id]
            for s in transition.steps:
                # never changed once staged; copied on the way out. An item that is not a
                # scalar is the caller's too (as a frame): copied on the way in as well
                steps[s.seq] = s if type(s.item) in _SHARED else _clone_step(s)
                if s.state is not None:  # the record lets go of it once committed
                    self._states[row.id][s.seq] = s.state
        if transition.compensations:
            journal = self._journal[row.id]
            for c in transition.compensations:
                journal[c.sequence] = c  # entries are values; copied on the way out
        if transition.status is not transition.previous_status:
            self._audit[row.id].append(
                {
                    "from_status": transition.previous_status.value,
                    "to_status": transition.status.value,
                    "at": transition.updated_at,
                    "reason": transition.reason,
                }
            )
        if transition.status not in _KEEPS_CANCEL_REQUEST:
            row.cancel_requested = None
        self.commits += 1
        return row.cancel_requested

    async def request_cancel(self, workflow_id: str, reason: str) -> bool:
        row = self._row(workflow_id)
        finished = (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED_ROLLED_BACK)
        if row.status in finished or row.status is WorkflowStatus.CANCELLED:
            return False
        row.cancel_requested = reason
        return True

    async def claim(
        self, workflow_id: str, expected_version: int, owner: str, expires_at: float, now: float
    ) -> None:
        row = self._row(workflow_id)
        free = row.lease_owner in (None, owner) or _expired(row, now) or _unstarted(row)
        if row.version != expected_version or not free:
            raise ConcurrentModificationError(
                workflow_id, expected_version, row.version, row.lease_owner
            )
        row.lease_owner, row.lease_expires_at = owner, expires_at
        row.version += 1
        self.commits += 1

    async def renew_lease(self, workflow_id: str, owner: str, expires_at: float) -> bool:
        row = self._rows.get(workflow_id)
        if row is None or row.lease_owner != owner:
            return False
        row.lease_expires_at = expires_at
        return True

    def renew_leases_blocking(self, leases: list[tuple[str, str, float]]) -> set[str]:
        renewed = set()
        for workflow_id, owner, expires_at in leases:
            row = self._rows.get(workflow_id)
            if row is not None and row.lease_owner == owner:
                row.lease_expires_at = expires_at
                renewed.add(workflow_id)
        return renewed

    async def find_recoverable(self, now: float, limit: int = 100) -> list[str]:
        running = RECOVERABLE
        rows = [
            r
            for r in self._rows.values()
            if r.status in running
            and r.lease_owner is not None
            and _expired(r, now)
            # created, never started: unless saga mode is on, its program may still turn it on
            and (r.version > 0 or r.saga_mode)
        ]
        rows.sort(key=lambda r: r.lease_expires_at or 0.0)  # oldest first, as the SQL stores
        return [r.id for r in rows[:limit]]

    async def claim_for_recovery(
        self, workflow_id: str, owner: str, expires_at: float, now: float, *, failed: bool = False
    ) -> bool:
        row = self._row(workflow_id)
        if row.status not in RECOVERABLE:
            return False
        if failed:
            if row.lease_owner != RECOVERY_FAILED:
                return False
        elif row.lease_owner is None or not _expired(row, now):
            return False
        row.lease_owner, row.lease_expires_at = owner, expires_at
        row.version += 1
        self.commits += 1
        return True

    async def mark_recovery_failed(self, workflow_id: str, owner: str) -> bool:
        row = self._row(workflow_id)
        running = RECOVERABLE
        if row.lease_owner != owner or row.status not in running:
            return False
        row.lease_owner, row.lease_expires_at = RECOVERY_FAILED, None
        row.version += 1
        self.commits += 1
        return True

    async def find_recovery_failed(self, limit: int = 100) -> list[str]:
        running = RECOVERABLE
        rows = [
            r
            for r in self._rows.values()
            if r.status in running and r.lease_owner == RECOVERY_FAILED
        ]
        rows.sort(key=lambda r: r.updated_at)
        return [r.id for r in rows[:limit]]

    async def metrics(self, workflow_id: str) -> list[tuple[str, float]]:
        """Metrics recorded for the workflow (name, value)."""
        self._row(workflow_id)
        return list(self._metrics.get(workflow_id, []))

    async def load_workflow(self, workflow_id: str) -> WorkflowRecord:
        return _clone(self._row(workflow_id))

    async def list_workflows(
        self,
        *,
        status: WorkflowStatus | None = None,
        workflow_type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[WorkflowRecord]:
        matching = (
            r
            for r in self._rows.values()
            if (status is None or r.status == status)
            and (workflow_type is None or r.workflow_type == workflow_type)
        )
        # only the page is copied: a page of a large store costs one pass, not a copy of all
        newest = heapq.nlargest(offset + limit, matching, key=lambda r: (r.created_at, r.id))
        return [_clone(r) for r in newest[offset:]]

    async def count_workflows(
        self, *, workflow_type: str | None = None
    ) -> dict[WorkflowStatus, int]:
        return dict(
            Counter(
                r.status
                for r in self._rows.values()
                if workflow_type is None or r.workflow_type == workflow_type
            )
        )

    async def step_history(self, workflow_id: str) -> list[StepRecord]:
        self._row(workflow_id)
        return [_clone_step(s) for _, s in sorted(self._steps[workflow_id].items())]

    async def step_states(self, workflow_id: str) -> dict[int, bytes | str]:
        self._row(workflow_id)
        return dict(sorted(self._states[workflow_id].items()))

    async def compensation_journal(self, workflow_id: str) -> list[CompensationRecord]:
        self._row(workflow_id)
        return [_clone_entry(c) for _, c in sorted(self._journal[workflow_id].items())]

    async def log_execution(
        self,
        workflow_id: str,
        log_level: str,
        message: str,
        step_name: str | None = None,
        **extra: Any,
    ) -> None:
        self._row(workflow_id)
        self._logs.setdefault(workflow_id, []).append(
            {
                "at": time.time(),
                "log_level": log_level.upper(),
                "message": message,
                "step_name": step_name,
                "extra": extra,
            }
        )

    async def execution_logs(self, workflow_id: str) -> list[dict[str, Any]]:
        self._row(workflow_id)
        return list(self._logs.get(workflow_id, []))

    async def audit_log(self, workflow_id: str) -> list[dict[str, Any]]:
        self._row(workflow_id)
        return list(self._audit[workflow_id])


MemoryPersistenceProvider = InMemoryPersistenceProvider  # aliases used by other Ruvon material
InMemoryPersistence = InMemoryPersistenceProvider
