"""Crash recovery: continue workflows whose runner died.

A runner holds a lease on the workflow it advances; every commit extends it and the lease
keeper's thread renews it during long steps. When the lease has expired while the workflow is
``ACTIVE`` (a step was running, or the next one was about to), ``COMPENSATING`` (an unwind was
under way) or ``PENDING_SUB_WORKFLOW`` (its runner was driving a child workflow), the workflow is
continued from its last committed transition: the step that was in flight runs again with the
same ``idempotency_key`` (at-least-once), an unwind goes on with the first compensation the
journal does not show as finished, and a parent picks its child up where the child is.

Each workflow is handled on its own, up to ``concurrency`` at a time:

1. *claim*: one atomic compare-and-set that takes the lease only while the workflow is still
   in one of those statuses with an expired lease, so a workflow its runner (or another
   recoverer) finished or took in the meantime is left alone;
2. *load* and *run* it. A workflow that can not be loaded (its state no longer fits the model,
   a function no longer imports) or on which the engine fails is *marked*: its lease is
   replaced by :data:`~ruvon.providers.persistence.RECOVERY_FAILED`, which never expires, and
   the reason goes to its execution log. Later passes skip it, so a bad row neither stops the
   pass nor starves the rows behind it; an operator lists it (``ruvon recover --list-failed``)
   and retries it once fixed (``include_failed=True``, ``ruvon recover --include-failed``).

A store error while running (the database went away) does not mark the workflow: the lease
recovery took expires and a later pass tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ruvon.errors import ConcurrentModificationError, PersistenceError, RuvonError
from ruvon.runtime.leases import new_runner_id
from ruvon.status import WorkflowStatus
from ruvon.workflow import Workflow

if TYPE_CHECKING:
    from ruvon.builder import WorkflowBuilder
    from ruvon.providers.persistence import PersistenceProvider

log = logging.getLogger("ruvon.recovery")

DEFAULT_CONCURRENCY = 10
"""Workflows recovered at once by one process (the PostgreSQL store's default pool size)."""

FAILED_PREFIX = "recovery failed: "
"""How the execution-log line that explains a recovery failure starts."""

_FOREVER = 10.0 * 365 * 24 * 3600  # "expired before now + this": every lease there is


@dataclass(slots=True, kw_only=True)
class RecoveryReport:
    """What one recovery did, workflow by workflow."""

    continued: list[str] = field(default_factory=list)
    """Run from their last committed transition (whatever status they reached)."""
    handed_back: list[str] = field(default_factory=list)
    """Stopped at a step that needs user input: the lease is released, the application resumes."""
    failed: dict[str, str] = field(default_factory=dict)
    """Could not be continued (id -> reason); marked, so automatic recovery skips them."""
    errors: dict[str, str] = field(default_factory=dict)
    """Store trouble or a lost lease (id -> reason); a later pass tries them again."""
    taken: list[str] = field(default_factory=list)
    """Finished or claimed by another runner between the search and the claim: left alone."""
    skipped: list[HeldLease] = field(default_factory=list)
    """Running workflows whose lease was still held when recovery ended (see :func:`held`)."""
    waited: float = 0.0
    """Seconds spent waiting for live leases to expire."""

    def merge(self, other: RecoveryReport) -> None:
        self.continued += other.continued
        self.handed_back += other.handed_back
        self.failed.update(other.failed)
        self.errors.update(other.errors)
        self.taken += other.taken


@dataclass(slots=True, kw_only=True, frozen=True)
class HeldLease:
    """A running workflow whose lease has not expired: its runner may well be alive."""

    workflow_id: str
    owner: str | None
    expires_at: float


async def recover(
    builder: WorkflowBuilder,
    store: PersistenceProvider,
    *,
    limit: int = 100,
    concurrency: int = DEFAULT_CONCURRENCY,
    include_failed: bool = False,
) -> list[str]:
    """Continue every abandoned workflow (up to ``limit``); return the ids continued.

    Another runner recovering at the same time is harmless: the claim is a compare-and-set,
    and a workflow claimed or finished by someone else is skipped.
    """
    report = await recover_pass(
        builder, store, limit=limit, concurrency=concurrency, include_failed=include_failed
    )
    return report.continued


async def recover_pass(
    builder: WorkflowBuilder,
    store: PersistenceProvider,
    *,
    limit: int = 100,
    concurrency: int = DEFAULT_CONCURRENCY,
    include_failed: bool = False,
) -> RecoveryReport:
    """One pass: find the abandoned workflows (and, with ``include_failed``, the ones marked
    failed), claim and continue each, ``concurrency`` at a time; say what happened to each."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    work: dict[str, bool] = {}  # id -> is it marked failed
    if include_failed:
        work.update((wid, True) for wid in await store.find_recovery_failed(limit))
    for wid in await store.find_recoverable(time.time(), limit):
        work.setdefault(wid, False)
    report = RecoveryReport()

    async def one(workflow_id: str) -> None:
        await _recover_one(builder, store, workflow_id, report, failed=work[workflow_id])

    await _each(list(work)[:limit], concurrency, one)
    await _tell_observer(builder, report)
    return report


async def recover_waiting(
    builder: WorkflowBuilder,
    store: PersistenceProvider,
    *,
    limit: int = 100,
    concurrency: int = DEFAULT_CONCURRENCY,
    include_failed: bool = False,
    wait: bool = False,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> RecoveryReport:
    """A pass, then the leases still held (``skipped``). With ``wait``, sleep until those
    have run out and pass again: a lease still held then was renewed, so its runner is alive."""
    report = await recover_pass(
        builder, store, limit=limit, concurrency=concurrency, include_failed=include_failed
    )
    report.skipped = await held(store, limit=limit, exclude=_handled(report))
    if wait and report.skipped:
        pause = max(h.expires_at for h in report.skipped) - time.time() + 0.05
        if pause > 0:
            log.info("waiting %.1fs for %d live lease(s) to expire", pause, len(report.skipped))
            await sleep(pause)
            report.waited = pause
        again = await recover_pass(builder, store, limit=limit, concurrency=concurrency)
        report.merge(again)
        report.skipped = await held(store, limit=limit, exclude=_handled(report))
    return report


async def held(
    store: PersistenceProvider,
    *,
    limit: int = 100,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> list[HeldLease]:
    """Running workflows (``ACTIVE``, ``COMPENSATING``, ``PENDING_SUB_WORKFLOW``) whose lease has
    not expired yet, soonest first."""
    now = time.time()
    expired = set(await store.find_recoverable(now, limit))
    leased = await store.find_recoverable(now + _FOREVER, limit + len(expired))
    out: list[HeldLease] = []
    for workflow_id in leased:
        if workflow_id in expired or workflow_id in exclude:
            continue
        try:
            row = await store.load_workflow(workflow_id)
        except RuvonError:  # gone or unreadable since the search: nothing held to report
            continue
        if row.lease_expires_at is not None and row.lease_expires_at >= now:
            out.append(
                HeldLease(
                    workflow_id=workflow_id, owner=row.lease_owner, expires_at=row.lease_expires_at
                )
            )
    return out


async def failed_workflows(store: PersistenceProvider, *, limit: int = 100) -> dict[str, str]:
    """The workflows marked failed by recovery, with the reason logged (id -> reason)."""
    out: dict[str, str] = {}
    for workflow_id in await store.find_recovery_failed(limit):
        lines = await store.execution_logs(workflow_id)
        reasons = [
            str(line["message"])[len(FAILED_PREFIX) :]
            for line in lines
            if str(line["message"]).startswith(FAILED_PREFIX)
        ]
        out[workflow_id] = reasons[-1] if reasons else "(no reason recorded)"
    return out


# --- one workflow ----------------------------------------------------------------------------


async def _recover_one(
    builder: WorkflowBuilder,
    store: PersistenceProvider,
    workflow_id: str,
    report: RecoveryReport,
    *,
    failed: bool,
) -> None:
    """Claim, load and continue one workflow. Never raises (but for cancellation): one
    workflow's trouble must not stop the others."""
    owner = new_runner_id()
    now = time.time()
    try:
        claimed = await store.claim_for_recovery(
            workflow_id, owner, now + builder.lease_seconds, now, failed=failed
        )
    except RuvonError as exc:
        _error(report, workflow_id, f"can not be claimed: {_describe(exc)}")
        return
    if not claimed:
        log.info("workflow %s was finished or claimed by another runner", workflow_id)
        report.taken.append(workflow_id)
        return
    wf = await _load(builder, store, workflow_id)
    if isinstance(wf, BaseException):
        await _give_up(store, workflow_id, owner, f"can not be loaded: {_describe(wf)}", report)
        return
    wf.adopt_lease(owner, now + builder.lease_seconds)  # the lease claimed above: no 2nd claim
    try:
        # a step that needs input runs only with the input its resume kept with the workflow;
        # without any, the workflow stops waiting for it (PAUSED, WAITING_HUMAN)
        ran_before = len(wf.history)
        await wf.run()
    except ConcurrentModificationError as exc:
        _error(report, workflow_id, f"lost its lease while recovering: {exc}")
    except PersistenceError as exc:  # the store, not the workflow: a later pass tries again
        _error(report, workflow_id, f"store error while recovering: {_describe(exc)}")
    except Exception as exc:
        log.error("recovering workflow %s raised", workflow_id, exc_info=exc)
        await _give_up(store, workflow_id, owner, f"failed while running: {_describe(exc)}", report)
    else:
        # a workflow that only stopped to wait for input, running nothing, is handed back
        waits = wf.status in (WorkflowStatus.PAUSED, WorkflowStatus.WAITING_HUMAN)
        idle = waits and len(wf.history) == ran_before
        (report.handed_back if idle else report.continued).append(workflow_id)
        log.info("recovered workflow %s: now %s", workflow_id, wf.status.value)


async def _load(
    builder: WorkflowBuilder, store: PersistenceProvider, workflow_id: str
) -> Workflow | Exception:
    """The workflow, or what loading it raised twice in a row: a store that failed once in
    passing must not get a good workflow marked (a bad row or missing code fails again)."""
    try:
        return await builder.load_workflow(workflow_id, persistence_provider=store)
    except Exception as exc:  # anything the user's code or data raise while loading
        log.info("loading workflow %s failed, trying once more: %s", workflow_id, exc)
    try:
        return await builder.load_workflow(workflow_id, persistence_provider=store)
    except Exception as exc:
        return exc


async def _give_up(
    store: PersistenceProvider, workflow_id: str, owner: str, reason: str, report: RecoveryReport
) -> None:
    """Mark the workflow failed (it keeps a lease that never expires) and log why on it."""
    try:
        marked = await store.mark_recovery_failed(workflow_id, owner)
        if marked:
            await store.log_execution(workflow_id, "ERROR", FAILED_PREFIX + reason)
    except RuvonError as exc:
        _error(report, workflow_id, f"{reason}; marking it failed did not work: {_describe(exc)}")
        return
    if not marked:  # the lease is no longer ours: whoever holds it now decides
        _error(report, workflow_id, f"{reason}; its lease was lost, so it is not marked")
        return
    log.error("recovery of workflow %s failed (marked, no longer retried): %s", workflow_id, reason)
    report.failed[workflow_id] = reason


async def _tell_observer(builder: WorkflowBuilder, report: RecoveryReport) -> None:
    """Hand the pass's report to the builder's observer if it counts recoveries (has
    ``on_recovery``, see :class:`~ruvon.providers.observer.RecoveryObserver`)."""
    on_recovery = getattr(builder.workflow_observer, "on_recovery", None)
    if on_recovery is not None:
        try:
            await on_recovery(report)
        except Exception:  # an observer bug must not fail the recovery
            log.exception("observer failed on a recovery report")


def _error(report: RecoveryReport, workflow_id: str, reason: str) -> None:
    log.warning("workflow %s %s", workflow_id, reason)
    report.errors[workflow_id] = reason


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _handled(report: RecoveryReport) -> set[str]:
    return {*report.continued, *report.handed_back, *report.failed, *report.errors}


async def _each(items: list[str], concurrency: int, work: Callable[[str], Awaitable[None]]) -> None:
    """``await work(item)`` for every item, at most ``concurrency`` at a time."""
    pending = iter(items)  # shared by the workers: each item is taken by exactly one

    async def worker() -> None:
        for item in pending:
            await work(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(items))):
            group.create_task(worker())
