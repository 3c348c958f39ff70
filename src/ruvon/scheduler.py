"""The scheduler: start workflows on the ticks of the schedules kept in the store.

Schedules are rows of the store (``ruvon_schedules``), registered by ``CRON_SCHEDULE`` steps and,
when a scheduler starts, by the definitions with a top-level ``schedule:`` (named after their
workflow type, started with empty initial data). Every ``interval`` seconds a scheduler lists
them and, for each one that is due, in this order:

1. *claims* the tick: one compare-and-set on the schedule row moves ``next_due_at`` on, only
   while it still holds the value this scheduler read, so of several schedulers on one database
   exactly one wins each tick;
2. *creates* the workflow with the idempotency key ``<schedule>:<tick in ISO 8601, UTC>``: the
   second line of defence, so that even a tick taken twice (by the start-up check below racing a
   live scheduler) starts one workflow;
3. *runs* it in the background, like any program would.

Missed ticks (the scheduler was down, or slower than the schedule): only the latest missed tick
runs, once; the older ones are skipped and logged. A long downtime thus starts one workflow per
schedule, not a burst.

A scheduler killed between steps 1 and 3 leaves that tick's workflow missing, or created and not
started. A scheduler that starts checks the last tick of every schedule it finds: it creates the
workflow if it is missing and runs it if it has not started and no live runner holds its lease
(the idempotency key and the lease make the check harmless when nothing is missing). A workflow
killed while running is continued by recovery (``ruvon recover``), as any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ruvon.definition.cron import latest_tick, next_tick, tick_label
from ruvon.errors import (
    ConcurrentModificationError,
    DefinitionError,
    PersistenceError,
    RuvonError,
    WorkflowValidationError,
    describe_validation,
)
from ruvon.providers.persistence import ScheduleRecord
from ruvon.status import WorkflowStatus

if TYPE_CHECKING:
    from ruvon.builder import WorkflowBuilder
    from ruvon.providers.persistence import PersistenceProvider
    from ruvon.workflow import Workflow

log = logging.getLogger("ruvon.scheduler")
ACTIVE = WorkflowStatus.ACTIVE


@dataclass(frozen=True, slots=True, kw_only=True)
class DueTick:
    """The tick of ``schedule`` to start now, and where the schedule goes next."""

    schedule: ScheduleRecord
    tick_at: float
    next_due_at: float

    @property
    def idempotency_key(self) -> str:
        return tick_key(self.schedule.name, self.tick_at)

    @property
    def skipped(self) -> bool:
        """Whether older missed ticks are skipped for this one (the missed-tick policy)."""
        return self.tick_at > self.schedule.next_due_at


def tick_key(name: str, tick_at: float) -> str:
    """The idempotency key of the workflow one tick of a schedule starts."""
    return f"{name}:{tick_label(tick_at)}"


def due_tick(schedule: ScheduleRecord, now: float) -> DueTick | None:
    """The tick to start at ``now``, if any: the latest tick at or before ``now`` (older missed
    ticks are skipped), and the first tick after it as the next due time."""
    if not schedule.enabled or now < schedule.next_due_at:
        return None
    tick = max(latest_tick(schedule.cron_expression, now), schedule.next_due_at)
    return DueTick(
        schedule=schedule, tick_at=tick, next_due_at=next_tick(schedule.cron_expression, tick)
    )


def scheduler_name() -> str:
    """Who took a tick (in the started workflow's metadata): host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Scheduler:
    """Starts the due ticks of the store's schedules; see the module docstring.

    ``builder`` knows the definitions (and runs the workflows); ``store`` holds the schedules
    and the workflows. ``clock`` gives the time (tests pass a fake one). ``grace``: seconds
    :meth:`run` waits, when stopped, for the workflows it started to finish; the ones still
    running then are cancelled where they are, and recovery continues them.
    """

    def __init__(
        self,
        builder: WorkflowBuilder,
        store: PersistenceProvider,
        *,
        interval: float = 1.0,
        grace: float = 10.0,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
    ) -> None:
        self.builder, self.store = builder, store
        self.interval, self.grace, self.clock = interval, grace, clock
        self.name = name or scheduler_name()
        self.running: set[asyncio.Task[None]] = set()
        self._reported: set[tuple[str, str]] = set()  # (schedule, problem) logged once
        self._checked: set[str] = set()  # schedules whose last tick the start-up check did

    # --- start ----------------------------------------------------------------------------

    async def register_definitions(self) -> list[str]:
        """Upsert the schedule of each definition with a top-level ``schedule:`` (its highest
        version); return their names. Empty initial data must fit the state model: a
        definition that needs data is a ``DefinitionError`` naming its file and key."""
        registry = self.builder.registry
        names = []
        for workflow_type in registry.types():
            definition = registry.get(workflow_type)
            cron = definition.spec.schedule
            if cron is None:
                continue
            try:
                definition.state_model.model_validate({})
            except ValidationError as exc:
                raise DefinitionError(
                    "a scheduled workflow starts with empty initial data, which "
                    f"{definition.state_model.__name__} refuses: {describe_validation(exc)}",
                    file=definition.source,
                    key="schedule",
                    workflow_type=workflow_type,
                ) from exc
            await self.store.upsert_schedule(
                ScheduleRecord(
                    name=workflow_type,
                    workflow_type=workflow_type,
                    cron_expression=cron,
                    next_due_at=next_tick(cron, self.clock()),
                )
            )
            names.append(workflow_type)
        return names

    def problem(self, schedule: ScheduleRecord) -> str | None:
        """Why this scheduler can not start ``schedule`` (``None``: it can)."""
        try:
            self.builder.registry.get(schedule.workflow_type, schedule.workflow_version)
        except DefinitionError as exc:
            return str(exc)
        try:
            next_tick(schedule.cron_expression, self.clock())
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return f"cron expression {schedule.cron_expression!r} is not valid: {exc}"
        return None

    def _usable(self, schedule: ScheduleRecord) -> bool:
        """Whether to handle ``schedule``; a problem is logged once, and the schedule is left
        to a scheduler that knows its workflow type."""
        why = self.problem(schedule)
        if why is None:
            return True
        if (schedule.name, why) not in self._reported:
            self._reported.add((schedule.name, why))
            log.error("schedule '%s' is skipped by this scheduler: %s", schedule.name, why)
        return False

    # --- one pass -------------------------------------------------------------------------

    async def poll(self) -> list[Workflow]:
        """Start every due tick this scheduler wins; return the workflows it started (they run
        in :attr:`running`)."""
        started = []
        for schedule in await self.store.list_schedules():
            if not schedule.enabled or not self._usable(schedule):
                continue
            try:
                wf = await self._handle(schedule)
            except PersistenceError:
                raise  # the database: the whole pass is retried
            except RuvonError as exc:  # this schedule only (a key held by another type...)
                log.error("schedule '%s': %s", schedule.name, exc)
                continue
            if wf is not None:
                started.append(wf)
        return started

    async def _handle(self, schedule: ScheduleRecord) -> Workflow | None:
        await self._check_last_tick(schedule)
        due = due_tick(schedule, self.clock())
        return None if due is None else await self._take(due)

    async def _take(self, due: DueTick) -> Workflow | None:
        s = due.schedule
        won = await self.store.claim_schedule_tick(
            s.name,
            expected_due_at=s.next_due_at,
            tick_at=due.tick_at,
            next_due_at=due.next_due_at,
            now=self.clock(),
        )
        if not won:
            log.debug("tick %s of '%s' was taken by another scheduler", due.tick_at, s.name)
            return None
        self._checked.add(s.name)  # its last tick is ours now: nothing to check
        if due.skipped:
            log.warning(
                "schedule '%s': missed ticks from %s skipped; only the latest, %s, runs",
                s.name,
                tick_label(s.next_due_at),
                tick_label(due.tick_at),
            )
        wf = await self._workflow(s, due.tick_at)
        return wf if wf is not None and await self._start(wf) else None

    async def _workflow(self, s: ScheduleRecord, tick_at: float) -> Workflow | None:
        """The tick's workflow: created, or found by its idempotency key; ``None`` if the
        schedule's initial data no longer fits the state model (logged)."""
        try:
            return await self.builder.create_workflow(
                s.workflow_type,
                s.initial_data,
                persistence_provider=self.store,
                idempotency_key=tick_key(s.name, tick_at),
                workflow_version=s.workflow_version,
                metadata={"schedule": s.name, "tick": tick_label(tick_at), "scheduler": self.name},
            )
        except WorkflowValidationError as exc:
            log.error("schedule '%s': tick %s not started: %s", s.name, tick_label(tick_at), exc)
            return None

    async def _start(self, wf: Workflow) -> bool:
        """Run ``wf`` in the background unless it has started or a live runner holds it."""
        if wf.version > 0 or wf.status is not ACTIVE:
            return False  # started already: by its runner, or continued by recovery
        if wf.lease_expires_at is None and not await self._abandoned(wf.id):
            return False  # found by its key, and its creator is alive to run it
        log.info("workflow %s started (%s)", wf.id, wf.idempotency_key)
        task = asyncio.create_task(self._run(wf), name=f"ruvon-schedule-{wf.idempotency_key}")
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return True

    async def _abandoned(self, workflow_id: str) -> bool:
        """Whether a workflow's lease is free or expired (leases are in real time)."""
        record = await self.store.load_workflow(workflow_id)
        expires = record.lease_expires_at
        return record.lease_owner is None or (expires is not None and expires < time.time())

    async def _run(self, wf: Workflow) -> None:
        try:
            status = await wf.run()
        except ConcurrentModificationError:
            log.info("workflow %s is run by another runner", wf.id)
            return
        except RuvonError as exc:
            log.error("workflow %s stopped on an engine error: %s", wf.id, exc)
            return
        log.info("workflow %s (%s) is %s", wf.id, wf.workflow_type, status.value)

    async def _check_last_tick(self, schedule: ScheduleRecord) -> None:
        """Finish the last tick of a schedule first seen, if the scheduler that took it died
        before starting its workflow (see the module docstring). Done once that workflow has
        started (here or elsewhere); until then checked again on each pass."""
        if schedule.name in self._checked:
            return
        if schedule.last_tick_at is not None:
            wf = await self._workflow(schedule, schedule.last_tick_at)
            started = wf is not None and await self._start(wf)
            if wf is not None and not started and wf.version == 0 and wf.status is ACTIVE:
                return  # its creator holds it: look again on the next pass
        self._checked.add(schedule.name)

    # --- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Register the definitions' schedules, then poll until ``stop`` is set; then wait
        up to :attr:`grace` seconds for the started workflows and cancel the rest."""
        await self.register_definitions()
        while not stop.is_set():
            try:
                await self.poll()
            except PersistenceError as exc:  # the database went away: try again next time
                log.warning("scheduler pass failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
        await self.drain(self.grace)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the workflows started by this scheduler; cancel those still running after
        ``timeout`` seconds (their leases expire and recovery continues them)."""
        if not self.running:
            return
        _, pending = await asyncio.wait(set(self.running), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning(
                "%d workflow(s) still running were stopped; recovery continues them", len(pending)
            )
