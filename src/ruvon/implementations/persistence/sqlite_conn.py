"""``SQLitePersistenceProvider.conn``: the store's own SQLite connection, used the aiosqlite way.

Programs written from the original Ruvon tutorials run their own SQL on the store's file with
``await persistence.conn.executescript(...)`` or ``await persistence.conn.execute(...)``: in
ruvon-sdk 0.1.5 ``conn`` was an ``aiosqlite`` connection. This is the subset of that API those
programs use, over the store's live ``sqlite3.Connection`` (``persistence.connection``), so
their statements see the workflows the store wrote and the store sees theirs.

Each call runs at once on the event loop's thread, like the store's own statements: a user's
statement can never land inside one of the store's transactions, because those never wait in
between their statements. The connection is in autocommit mode, so every statement commits by
itself; a program that opens a transaction itself (``BEGIN``) must end it before the store
writes again, or the store's next write fails.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping, Sequence
from typing import Any

Params = Sequence[Any] | Mapping[str, Any]


class AsyncCursor:
    """A ``sqlite3.Cursor`` whose fetch methods are awaited, as aiosqlite's are."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def description(self) -> Any:
        return self._cursor.description

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def __aiter__(self) -> AsyncIterator[Any]:
        for row in self._cursor:
            yield row

    async def __aenter__(self) -> AsyncCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()


class _Pending:
    """What ``execute`` returns: awaited, it gives the cursor; ``async with`` closes it after.

    The statement runs when the result is awaited or entered, not when ``execute`` is called,
    as in aiosqlite.
    """

    __slots__ = ("_run",)

    def __init__(self, run: Callable[[], sqlite3.Cursor]) -> None:
        self._run = run

    async def _cursor(self) -> AsyncCursor:
        return AsyncCursor(self._run())

    def __await__(self) -> Generator[Any, None, AsyncCursor]:
        return self._cursor().__await__()

    async def __aenter__(self) -> AsyncCursor:
        return await self._cursor()

    async def __aexit__(self, *exc: object) -> None:
        return None


class AsyncConnection:
    """``await conn.execute(sql, params)``, ``executemany``, ``executescript``,
    ``execute_fetchall``, ``commit``, ``rollback``, over the store's live connection.

    Rows are ``sqlite3.Row``: read by index (as aiosqlite's default tuples) or by column name.
    ``close()`` is deliberately absent: the connection is the store's; close the store.
    """

    __slots__ = ("_get",)

    def __init__(self, get: Callable[[], sqlite3.Connection]) -> None:
        self._get = get  # the store's current connection, or a clear error if it is closed

    @property
    def connection(self) -> sqlite3.Connection:
        """The live ``sqlite3.Connection`` (also ``persistence.connection``)."""
        return self._get()

    @property
    def in_transaction(self) -> bool:
        return self._get().in_transaction

    @property
    def total_changes(self) -> int:
        return self._get().total_changes

    def execute(self, sql: str, parameters: Params = ()) -> _Pending:
        return _Pending(lambda: self._get().execute(sql, parameters))

    def executemany(self, sql: str, parameters: Iterable[Params]) -> _Pending:
        return _Pending(lambda: self._get().executemany(sql, parameters))

    def executescript(self, script: str) -> _Pending:
        return _Pending(lambda: self._get().executescript(script))

    def cursor(self) -> _Pending:
        return _Pending(lambda: self._get().cursor())

    async def execute_fetchall(self, sql: str, parameters: Params = ()) -> list[Any]:
        return self._get().execute(sql, parameters).fetchall()

    async def commit(self) -> None:
        self._get().commit()

    async def rollback(self) -> None:
        self._get().rollback()
