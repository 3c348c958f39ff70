"""The schedule part of the in-memory store: the same upsert, listing and tick
compare-and-set as ``ruvon_schedules`` in SQL (see ``sql/queries.sql``)."""

from __future__ import annotations

import time
from dataclasses import replace

import pydantic_core

from ruvon.providers.persistence import ScheduleRecord


def _copy(schedule: ScheduleRecord) -> ScheduleRecord:
    """A copy that shares no mutable data with the caller's record."""
    data = pydantic_core.from_json(pydantic_core.to_json(schedule.initial_data))
    return replace(schedule, initial_data=data)


class MemorySchedules:
    """Schedules in a dictionary by name, created on first use."""

    _schedules: dict[str, ScheduleRecord]

    def _schedule_rows(self) -> dict[str, ScheduleRecord]:
        try:
            return self._schedules
        except AttributeError:  # first use: a store that never schedules carries nothing
            self._schedules = {}
            return self._schedules

    async def upsert_schedule(self, schedule: ScheduleRecord) -> None:
        rows = self._schedule_rows()
        now = time.time()
        old = rows.get(schedule.name)
        new = _copy(schedule)
        new.updated_at = now
        if old is None:
            new.created_at, new.last_tick_at = now, None
        else:
            new.created_at, new.last_tick_at = old.created_at, old.last_tick_at
            if old.enabled and old.cron_expression == schedule.cron_expression:
                new.next_due_at = old.next_due_at
        rows[schedule.name] = new

    async def list_schedules(self) -> list[ScheduleRecord]:
        rows = self._schedule_rows()
        return [_copy(rows[name]) for name in sorted(rows)]

    async def claim_schedule_tick(
        self, name: str, *, expected_due_at: float, tick_at: float, next_due_at: float, now: float
    ) -> bool:
        row = self._schedule_rows().get(name)
        if row is None or not row.enabled or row.next_due_at != expected_due_at:
            return False
        row.next_due_at, row.last_tick_at, row.updated_at = next_due_at, tick_at, now
        return True
