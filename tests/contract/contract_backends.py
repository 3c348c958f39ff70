"""Store backends under test and plain-SQL access to their databases (used by conftest)."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sql import queries as sqlq

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = os.environ.get("RUVON_TEST_POSTGRES_URL", DEFAULT_PG_URL)
PG_CONNECT_TIMEOUT = 5.0


RUVON_TABLES_SQL = (
    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
    "AND tablename LIKE 'ruvon%'"
)


async def reset_postgres(url: str, *, drop: bool = False) -> None:
    """Empty the ruvon tables; drop them all if asked or if their schema is not the latest."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=PG_CONNECT_TIMEOUT)
    try:
        tables = [r["tablename"] for r in await conn.fetch(RUVON_TABLES_SQL)]
        if not tables:
            return
        current = None
        if "ruvon_schema" in tables:
            current = await conn.fetchval("SELECT max(version) FROM ruvon_schema")
        quoted = ", ".join(f'"{t}"' for t in tables)
        if drop or current != sqlq.latest_version():
            await conn.execute(f"DROP TABLE IF EXISTS {quoted} CASCADE")
            return
        # DELETE, not TRUNCATE: on a handful of rows it is several times faster. Children first,
        # then the workflows, then the definitions they reference.
        last = ("ruvon_workflows", "ruvon_definitions")
        order = [t for t in tables if t != "ruvon_schema" and t not in last]
        order += [t for t in last if t in tables]
        await conn.execute("; ".join(f'DELETE FROM "{t}"' for t in order))
    finally:
        await conn.close()


@dataclass
class Backend:
    """One kind of store under test, with plain-SQL access to its database.

    ``target`` is the SQLite file or the PostgreSQL URL. Every store made by :meth:`new_store`
    is closed when the test ends. ``sql``/``fetch`` run plain SQL on a separate connection
    (``?`` parameters for SQLite, ``$n`` for PostgreSQL).
    """

    name: str
    target: str | None = None
    opened: list[Any] = field(default_factory=list)
    _memory: InMemoryPersistenceProvider | None = None

    def new_store(self) -> Any:
        """A new store on this backend's database (the memory backend has only one)."""
        if self.name == "memory":
            if self._memory is None:
                self._memory = InMemoryPersistenceProvider()
            return self._memory
        if self.name == "sqlite":
            from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

            store: Any = SQLitePersistenceProvider(self.target or "")
        else:
            from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

            store = PostgresPersistenceProvider(self.target or "", min_size=1, max_size=4)
        self.opened.append(store)
        return store

    async def sql(self, query: str, *args: Any) -> None:
        await self.fetch(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.name == "sqlite":
            db = sqlite3.connect(self.target or "", isolation_level=None)
            try:
                return [tuple(r) for r in db.execute(query, args).fetchall()]
            finally:
                db.close()
        if self.name == "postgres":
            import asyncpg

            conn = await asyncpg.connect(self.target, timeout=PG_CONNECT_TIMEOUT)
            try:
                return [tuple(r) for r in await conn.fetch(query, *args)]
            finally:
                await conn.close()
        raise AssertionError("the memory store has no SQL")

    async def close_all(self) -> None:
        for store in self.opened:
            await store.close()
