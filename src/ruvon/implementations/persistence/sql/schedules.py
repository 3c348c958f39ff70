"""The schedule part of the SQL stores (``ruvon_schedules``), mixed into ``SQLStore``.

Three statements of ``queries.sql``, each atomic on its own: an upsert by name, a listing, and
the compare-and-set by which a scheduler takes one tick.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from ruvon.implementations.persistence.sql import rows

if TYPE_CHECKING:
    from ruvon.implementations.persistence.sql.queries import Query
    from ruvon.implementations.persistence.sql.store import Connection
    from ruvon.providers.persistence import ScheduleRecord


class ScheduleQueries:
    """Schedules over the SQL connection hooks of ``SQLStore``."""

    _q: dict[str, Query]
    _flag: Any

    @property
    @abstractmethod
    def where(self) -> str: ...

    @abstractmethod
    async def _ensure(self) -> None: ...

    @abstractmethod
    def _autocommit(self) -> AbstractAsyncContextManager[Connection]: ...

    async def upsert_schedule(self, schedule: ScheduleRecord) -> None:
        await self._ensure()
        values = rows.schedule_values(schedule, self._flag, time.time())
        async with self._autocommit() as conn:  # one statement: atomic on its own
            await conn.execute(self._q["upsert_schedule"], values)

    async def list_schedules(self) -> list[ScheduleRecord]:
        await self._ensure()
        async with self._autocommit() as conn:
            found = await conn.fetchall(self._q["list_schedules"], {})
        return [rows.schedule_record(r, self.where) for r in found]

    async def claim_schedule_tick(
        self, name: str, *, expected_due_at: float, tick_at: float, next_due_at: float, now: float
    ) -> bool:
        await self._ensure()
        values = {
            "name": name,
            "expected_due_at": expected_due_at,
            "tick_at": tick_at,
            "next_due_at": next_due_at,
            "now": now,
        }
        async with self._autocommit() as conn:  # one UPDATE: the row lock decides the race
            return bool(await conn.execute(self._q["claim_schedule_tick"], values))
