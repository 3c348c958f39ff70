"""A running workflow instance: its state and status, and the operations on it.

``Workflow`` holds what is known about one instance and delegates the work: advancing to
:mod:`ruvon.runtime.runner`, failure and unwinding to :mod:`ruvon.runtime.saga`, durability to the
persistence provider (one :class:`~ruvon.providers.persistence.Transition` per commit).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ruvon.errors import IllegalOperationError
from ruvon.models import CompensationRecord, StepRecord, StepStatus, WorkflowError
from ruvon.providers.observer import EventKind, WorkflowEvent
from ruvon.providers.persistence import Transition
from ruvon.runtime import cancelling, runner, saga, waits
from ruvon.runtime.leases import new_runner_id
from ruvon.runtime.merge import Merged, dump_state, load_state
from ruvon.status import TERMINAL, WorkflowStatus, check_transition
from ruvon.steps import children
from ruvon.steps.subworkflow import PARENT_KEY

if TYPE_CHECKING:
    from ruvon.builder import WorkflowBuilder
    from ruvon.definition.compile import CompiledStep, WorkflowDefinition
    from ruvon.providers.execution import ExecutionProvider
    from ruvon.providers.expression import ExpressionEvaluator
    from ruvon.providers.observer import WorkflowObserver
    from ruvon.providers.persistence import PersistenceProvider
    from ruvon.providers.secrets import SecretsProvider
    from ruvon.providers.templating import TemplateEngine
    from ruvon.runtime.attempts import CallResult
    from ruvon.runtime.outcome import StepOutcome

S = WorkflowStatus
# statuses in which a runner is at work: a commit keeps its lease (a parent waiting for a child
# is driving it)
_RUNNING = (S.ACTIVE, S.COMPENSATING, S.PENDING_SUB_WORKFLOW)
DEFAULT_LEASE_SECONDS = 30.0


class _Done:
    """Returned by :meth:`Workflow.enable_saga_mode`: ignorable, or awaited to persist at once."""

    def __init__(self, wf: Workflow) -> None:
        self._wf = wf

    def __await__(self) -> Generator[Any, None, None]:
        return self._wf.persist_settings().__await__()


class Workflow:
    """One workflow instance. Create it with ``WorkflowBuilder.create_workflow``."""

    def __init__(
        self,
        *,
        id: str,
        definition: WorkflowDefinition,
        state: BaseModel,
        status: WorkflowStatus,
        persistence: PersistenceProvider,
        executor: ExecutionProvider,
        observer: WorkflowObserver,
        builder: WorkflowBuilder | None = None,
        expression_evaluator: ExpressionEvaluator | None = None,
        template_engine: TemplateEngine | None = None,
        current_step: int = 0,
        saga_mode: bool = False,
        error: WorkflowError | None = None,
        created_at: float | None = None,
        updated_at: float | None = None,
        version: int = 0,
        idempotency_key: str | None = None,
        owner_id: str | None = None,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        history: list[StepRecord] | None = None,
        journal: list[CompensationRecord] | None = None,
        runner_id: str | None = None,
        lease_expires_at: float | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        committed_state: bytes | str | None = None,
        cancel_requested: str | None = None,
        frames: list[dict[str, Any]] | None = None,
        secrets_provider: SecretsProvider | None = None,
    ) -> None:
        self.id = id
        self.definition = definition
        self.workflow_type = definition.workflow_type
        self.workflow_version = definition.workflow_version
        self.state = state
        self.status = status
        self.current_step = current_step
        # the rest of the cursor: positions inside nested step types (JSON objects), committed
        # with the state
        self.frames: list[dict[str, Any]] = list(frames) if frames else []
        self.saga_mode = saga_mode
        self.error = error
        self.persistence = persistence
        self.executor = executor
        self.observer = observer
        self.builder = builder
        self.expression_evaluator = expression_evaluator
        self.template_engine = template_engine
        self.secrets_provider = secrets_provider  # read by HTTP steps' templates, never stored
        self.idempotency_key = idempotency_key
        self.owner_id = owner_id
        self.parent_id = parent_id
        self.metadata = metadata or {}
        now = time.time()
        self._created_at = created_at or now
        self._updated_at = updated_at or self._created_at
        self.version = version
        self.history: list[StepRecord] = history or []
        self.journal: list[CompensationRecord] = journal or []
        self.last_result: dict[str, Any] | None = next(
            (r.result for r in reversed(self.history) if r.result is not None), None
        )
        self._staged_steps: list[StepRecord] = []
        self._staged_comps: list[CompensationRecord] = []
        self._busy = False
        self.runner_id = runner_id or new_runner_id()
        self.lease_seconds = lease_seconds
        # set while this object holds the lease: when it runs out (renewed by every commit)
        self._lease_expires = lease_expires_at
        self._lease_lock = threading.Lock()  # shared with the lease keeper's thread
        # the state as last committed: a failed attempt's in-place changes are rolled back to it
        self._committed_state: bytes | str | None = committed_state
        # the saga flag as the store has it; enable_saga_mode() without await changes only ours
        self._stored_saga_mode = saga_mode
        # (state object, its JSON) once a merge has proved the state storable: commit reuses it
        self._state_json: tuple[BaseModel, bytes] | None = None
        # what the store has besides the state, to put the object back after a failed commit
        self._committed = (
            current_step,
            status,
            error,
            len(self.history),
            tuple(self.journal),
            tuple(self.frames),
        )
        # an operator asked to cancel while another runner held the lease (honoured at the
        # next transition)
        self.cancel_requested = cancel_requested
        # a child workflow run by its parent's step: its operations do not wake the parent
        self.driven = False

    # --- attributes -----------------------------------------------------------------------------

    @property
    def current_step_name(self) -> str | None:
        """Name of the step the cursor is on; ``None`` once past the last step."""
        steps = self.definition.steps
        return steps[self.current_step].name if self.current_step < len(steps) else None

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self._created_at, UTC)

    @property
    def updated_at(self) -> datetime:
        return datetime.fromtimestamp(self._updated_at, UTC)

    @property
    def compensation_journal(self) -> list[CompensationRecord]:
        """The compensation journal, in unwind order (also readable from the store)."""
        return list(self.journal)

    # --- operations -----------------------------------------------------------------------------

    def enable_saga_mode(self) -> _Done:
        """Turn on compensation. A plain call; ``await`` it to persist the flag immediately."""
        if self.status.is_finished:
            raise IllegalOperationError(
                f"workflow '{self.id}' is {self.status.value}; saga mode can not change now",
                workflow_id=self.id,
                status=self.status.value,
            )
        self.saga_mode = True
        return _Done(self)

    async def next_step(self, user_input: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Run the current step (and the automated ones after it); return the last result.

        A failing step does not raise: see :attr:`status` and :attr:`error`.
        """
        if PARENT_KEY in self.metadata and not self.driven:  # a child its parent waits for
            return await children.as_child(  # type: ignore[no-any-return]
                self,
                lambda: self._advance(user_input),
                check=lambda: runner.check_call(self, user_input),
            )
        return await self._advance(user_input)

    async def _advance(self, user_input: dict[str, Any] | None) -> dict[str, Any] | None:
        with self._exclusive():
            return await runner.advance(self, user_input)

    async def run(self) -> WorkflowStatus:
        """Advance until the workflow finishes or waits; return the status. A workflow that
        waits for a child (``PENDING_SUB_WORKFLOW``) goes on waiting for it."""
        if self.status is S.PENDING_SUB_WORKFLOW:
            await self.next_step()
        while self.status is S.ACTIVE or self.status is S.COMPENSATING:
            await self.next_step()
        return self.status

    async def resume(self, user_input: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Continue a workflow waiting for input (``PAUSED``, ``WAITING_HUMAN``) with it; a
        workflow whose child waits for input (``WAITING_CHILD_HUMAN_INPUT``) passes it on to
        the child (or the workflow below it) that waits.

        The input is validated against the waiting step's ``input_model`` first: bad input
        raises :class:`~ruvon.errors.WorkflowValidationError` (also a ``ValueError``) naming
        each bad field, and the workflow keeps waiting, with nothing written."""
        if self.status not in runner.INPUT_WAITS and self.status is not S.WAITING_CHILD_HUMAN_INPUT:
            raise IllegalOperationError(
                f"workflow '{self.id}' is {self.status.value}, not waiting for input (PAUSED, "
                "WAITING_HUMAN or WAITING_CHILD_HUMAN_INPUT); nothing to resume",
                workflow_id=self.id,
                status=self.status.value,
            )
        return await self.next_step(user_input)

    async def cancel(self, reason: str | None = None) -> WorkflowStatus:
        """Stop the workflow. In saga mode its completed steps are compensated first.

        If another runner (another process, or another object) is advancing it right now, the
        request is recorded instead and that runner honours it at its next transition; the
        status returned is then the one before, and :attr:`cancel_requested` is set. The same
        holds when this object is advancing it in another task. A workflow waiting for a child
        workflow cancels the child too.
        """
        if PARENT_KEY in self.metadata and not self.driven:
            return await children.as_child(self, lambda: self._cancel(reason))  # type: ignore[no-any-return]
        return await cancelling.cancel(self, reason)

    async def _cancel(self, reason: str | None) -> WorkflowStatus:
        return await cancelling.cancel(self, reason)

    async def honour_cancel(self) -> None:
        """Carry out the pending cancellation (this object holds the lease)."""
        await cancelling.honour(self)

    async def retry(self) -> WorkflowStatus:
        """Run a failed workflow again: the failed step (``FAILED``, ``FAILED_CHILD_WORKFLOW``)
        or the failed compensations (``COMPENSATION_FAILED``) only. Returns the new status."""
        if PARENT_KEY in self.metadata and not self.driven:
            return await children.retry_child(self)
        return await runner.retry(self)

    async def approve_compensation(
        self, decided_by: str | None = None, reason: str | None = None
    ) -> WorkflowStatus:
        """Let the unwind undo the step it waits on, then continue. Who decided, when and why
        are kept in that step's journal entry."""
        return await self._decide(saga.Decision(True, decided_by, reason))

    async def reject_compensation(
        self, decided_by: str | None = None, reason: str | None = None
    ) -> WorkflowStatus:
        """Leave the step it waits on as it is (recorded with who decided, when and why), then
        continue with the other compensations."""
        return await self._decide(saga.Decision(False, decided_by, reason))

    async def _decide(self, decision: saga.Decision) -> WorkflowStatus:
        if PARENT_KEY in self.metadata and not self.driven:
            return await children.as_child(self, lambda: self._decided(decision))  # type: ignore[no-any-return]
        return await self._decided(decision)

    async def _decided(self, decision: saga.Decision) -> WorkflowStatus:
        if self.status is not S.WAITING_COMPENSATION_APPROVAL:
            raise IllegalOperationError(
                f"workflow '{self.id}' is {self.status.value}; no compensation awaits approval",
                workflow_id=self.id,
                status=self.status.value,
            )
        with self._exclusive():
            await self.acquire()
            await saga.unwind(self, decision=decision)
        return self.status

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary of the workflow."""
        return {
            "id": self.id,
            "workflow_type": self.workflow_type,
            "workflow_version": self.workflow_version,
            "status": self.status.value,
            "state": self.state.model_dump(mode="json"),
            "current_step": self.current_step,
            "current_step_name": self.current_step_name,
            "saga_mode": self.saga_mode,
            "error": self.error.to_dict() if self.error else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "idempotency_key": self.idempotency_key,
            "owner_id": self.owner_id,
            "parent_id": self.parent_id,
            "metadata": self.metadata,
        }

    def __repr__(self) -> str:
        return (
            f"<Workflow {self.workflow_type} {self.id} {self.status.value} "
            f"step={self.current_step_name}>"
        )

    # --- engine-facing helpers (used by the runtime) --------------------------------------------

    clock = staticmethod(time.time)

    def _exclusive(self) -> _Exclusive:
        return _Exclusive(self)

    def record_attempt(
        self,
        step: CompiledStep,
        attempt: CallResult | StepOutcome,
        status: StepStatus,
        *,
        result: dict[str, Any] | None = None,
        error: WorkflowError | None = None,
        scope: str | None = None,
        item: Any = None,
        state: bytes | None = None,
    ) -> StepRecord:
        """Add one attempt of a forward step to the history (written with the next commit);
        ``scope`` (a scope path as text) defaults to the top-level step's own; ``item`` is the
        loop item or fan-out task the attempt ran for (JSON)."""
        record = StepRecord(
            seq=len(self.history),
            scope=scope or step.scope,
            step_name=step.name,
            step_index=step.index,
            attempt=attempt.attempt,
            status=status,
            started_at=attempt.started_at,
            ended_at=attempt.ended_at,
            result=result,
            error=error,
            item=item,
            state=state,
        )
        self.history.append(record)
        self._staged_steps.append(record)
        return record

    def add_record(self, record: StepRecord) -> None:
        """Add a record built elsewhere (a skipped step) to the history; written with the next
        commit."""
        self.history.append(record)
        self._staged_steps.append(record)

    def stage_compensation(self, entry: CompensationRecord) -> None:
        self._staged_comps.append(entry)

    def revise_compensation(self, entry: CompensationRecord, **changes: Any) -> CompensationRecord:
        """Replace a journal entry by its revision (entries are values) and stage it."""
        revised = entry.revised(**changes)
        journal, staged = self.journal, self._staged_comps
        journal[next(i for i, e in enumerate(journal) if e is entry)] = revised
        for i, e in enumerate(staged):
            if e is entry:  # not written yet: the revision takes its place
                staged[i] = revised
                break
        else:
            staged.append(revised)
        return revised

    @property
    def committed_records(self) -> int:
        """How many records of :attr:`history` the store has (the rest go with the next
        commit)."""
        return self._committed[3]

    def last_step_duration_ms(self) -> float | None:
        return self.history[-1].duration_ms if self.history else None

    @property
    def saga_flag_pending(self) -> bool:
        """Saga mode was switched on in memory and is not in the store yet."""
        return self.saga_mode != self._stored_saga_mode

    def apply(self, merged: Merged) -> None:
        """Take the state a merge produced (and its JSON, which the next commit writes)."""
        self.state = merged.state
        self._state_json = (merged.state, merged.state_json)

    def restore_state(self) -> None:
        """Drop in-place changes made since the last commit (after a failed attempt)."""
        if self._committed_state is not None:
            self.state = load_state(type(self.state), self._committed_state, "restore")
            self._state_json = None

    def dump_state(self) -> bytes:
        cached = self._state_json
        if cached is not None and cached[0] is self.state:
            return cached[1]
        return dump_state(self.state, self.current_step_name or "end")

    def rollback(self) -> None:
        """Put the object back to its last commit: after a failed commit, or an attempt that
        was interrupted (cancelled). What the store has is then what the object says."""
        step, status, error, history_len, journal, frames = self._committed
        self.restore_state()
        self.current_step, self.status, self.error = step, status, error
        self.frames = list(frames)
        del self.history[history_len:]
        self.journal = list(journal)
        self._staged_steps, self._staged_comps = [], []
        self.last_result = next(
            (r.result for r in reversed(self.history) if r.result is not None), None
        )

    async def acquire(self) -> None:
        """Take the workflow's lease unless this object already holds it (one commit).

        A workflow no runner has started yet (version 0) whose saga mode was switched on since
        is started instead: the flag is committed with the lease in one write, so recovery never
        sees it claimed without it.
        """
        now = time.time()
        if self._lease_expires is not None and self._lease_expires > now + 1.0:
            return
        if self.version == 0 and self.saga_flag_pending:
            self._lease_expires = now + self.lease_seconds  # so the commit keeps the lease
            try:
                await self.commit(self.status, reason="started")
            except BaseException:
                self._lease_expires = None
                raise
            return
        expires = now + self.lease_seconds
        await self.persistence.claim(self.id, self.version, self.runner_id, expires, now)
        self.version += 1
        self._lease_expires = expires

    async def persist_settings(self) -> None:
        """Write the saga flag now (``await workflow.enable_saga_mode()``), through the lease."""
        with self._exclusive():
            await self.acquire()
            if self.saga_flag_pending:
                await self.commit(self.status, reason="saga mode enabled")

    @property
    def waiting_for(self) -> dict[str, Any] | None:
        """What a waiting workflow waits for (``None`` unless it waits): see
        :func:`ruvon.runtime.waits.describe`."""
        return waits.describe(self)

    @property
    def lease_expires_at(self) -> float | None:
        """When this object's lease runs out (``None``: it holds none)."""
        return self._lease_expires

    def adopt_lease(self, owner: str, expires_at: float) -> None:
        """Take over a lease claimed for this object before it was loaded (recovery)."""
        with self._lease_lock:
            self.runner_id, self._lease_expires = owner, expires_at

    def extend_lease(self, expires_at: float) -> None:
        """Record a renewal made by the lease keeper's thread, unless the lease was let go."""
        with self._lease_lock:
            if self._lease_expires is not None:
                self._lease_expires = expires_at

    def _metrics(self, status: WorkflowStatus, now: float) -> tuple[tuple[str, float], ...]:
        return (
            ("workflow_duration_ms", (now - self._created_at) * 1000.0),
            ("step_attempts", float(len(self.history))),
        )

    async def commit(
        self,
        status: WorkflowStatus,
        reason: str | None = None,
        *,
        release: bool = False,
    ) -> None:
        """Persist the workflow as it is now, moving to ``status``, in one transaction.

        The lease is kept (and extended) while the workflow is running and this object holds
        it; ``release`` or a status that is not running gives it up in the same commit. The
        store refuses the write unless the version is the one this object read and the lease
        is free, expired or ours. If the commit fails, the object is put back to its last
        commit.
        """
        previous = self.status
        if status is not previous:
            check_transition(previous, status, self.id)
        now = time.time()
        keep = not release and self._lease_expires is not None and status in _RUNNING
        expires = now + self.lease_seconds if keep else None
        try:
            state = self.dump_state()
            frames = list(self.frames)  # ours may change while the store still holds this one
            cancel = await self.persistence.commit(
                Transition(
                    workflow_id=self.id,
                    expected_version=self.version,
                    previous_status=previous,
                    status=status,
                    state=state,
                    current_step=self.current_step,
                    frames=frames,
                    saga_mode=self.saga_mode,
                    error=self.error,
                    updated_at=now,
                    steps=self._staged_steps,
                    compensations=self._staged_comps,
                    reason=reason,
                    runner_id=self.runner_id,
                    lease_owner=self.runner_id if keep else None,
                    lease_expires_at=expires,
                    metrics=self._metrics(status, now) if status in TERMINAL else (),
                )
            )
        except BaseException:
            self.rollback()
            raise
        with self._lease_lock:
            self._lease_expires = expires
        self._committed_state = state
        self._stored_saga_mode = self.saga_mode
        self.version += 1
        self.status = status
        self._updated_at = now
        journal = tuple(self.journal) if self._staged_comps else self._committed[4]
        self._committed = (
            self.current_step,
            status,
            self.error,
            len(self.history),
            journal,
            tuple(frames),
        )
        for record in self._staged_steps:
            record.state = None  # the store has it: the history does not keep every state
        self._staged_steps = []  # the lists went to the store with the transition
        self._staged_comps = []
        if cancel is not None and status in runner.CANCELLABLE:
            self.cancel_requested = cancel  # asked for by another runner: honoured next
        if status is not previous and self.observer.wants(EventKind.STATUS_CHANGED):
            await self.notify(EventKind.STATUS_CHANGED, previous_status=previous.value)

    async def notify(self, kind: EventKind, **fields: Any) -> None:
        """Send one event to the observer; an observer's exception never fails the workflow."""
        event = WorkflowEvent(
            kind, self.id, self.workflow_type, self.status.value, parent_id=self.parent_id, **fields
        )
        try:
            await self.observer.on_event(event)
        except Exception:  # an observer bug must not change the workflow's fate
            import logging

            logging.getLogger("ruvon").exception("observer failed on %s", kind.value)


class _Exclusive:
    """Refuses a second concurrent operation on the same in-memory workflow object."""

    __slots__ = ("_wf",)

    def __init__(self, wf: Workflow) -> None:
        self._wf = wf

    def __enter__(self) -> None:
        if self._wf._busy:
            raise IllegalOperationError(
                f"workflow '{self._wf.id}' is already being advanced by another task",
                workflow_id=self._wf.id,
                status=self._wf.status.value,
            )
        self._wf._busy = True

    def __exit__(self, *exc: object) -> None:
        self._wf._busy = False
