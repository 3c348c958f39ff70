"""The Postgres store's spare connection: kept after a clean use, never after a failed one (no
server needed: the pool and connections here are stand-ins that record what was done to them).
"""

from __future__ import annotations

import asyncio

import pytest

asyncpg = pytest.importorskip("asyncpg")

from ruvon.errors import ConcurrentModificationError, PersistenceError  # noqa: E402
from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider  # noqa: E402


class _Conn:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False
        self.released_by_driver = False  # asyncpg detached the proxy: is_closed() raises
        self.terminated = False

    def is_closed(self) -> bool:
        if self.released_by_driver:
            raise asyncpg.InterfaceError("connection has been released back to the pool")
        return self.closed

    def terminate(self) -> None:
        self.terminated = self.closed = True


class _Acquire:
    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.conn: _Conn | None = None

    async def __aenter__(self) -> _Conn:
        self.conn = _Conn(f"c{len(self.pool.made)}")
        self.pool.made.append(self.conn)
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        assert self.conn is not None
        await self.pool.release(self.conn)


class _Pool:
    def __init__(self) -> None:
        self.made: list[_Conn] = []
        self.released: list[_Conn] = []

    def acquire(self) -> _Acquire:
        return _Acquire(self)

    async def release(self, conn: _Conn) -> None:
        self.released.append(conn)


def _store() -> tuple[PostgresPersistenceProvider, _Pool]:
    store = PostgresPersistenceProvider("postgresql://u:secret@db.invalid/x")
    pool = _Pool()
    store._pool, store._spare_free = pool, True  # as _open leaves it
    return store, pool


async def test_a_clean_use_keeps_the_connection_as_the_spare_for_the_next() -> None:
    store, pool = _store()
    async with store._autocommit():
        pass
    async with store._autocommit():
        pass
    assert [c.name for c in pool.made] == ["c0"] and pool.released == []
    assert store._spare is pool.made[0] and store._spare_free


async def test_a_store_error_between_statements_keeps_the_spare() -> None:
    store, pool = _store()
    with pytest.raises(ConcurrentModificationError):
        async with store._autocommit():
            raise ConcurrentModificationError("wf-1", 1, 2)
    assert store._spare is pool.made[0] and pool.released == []


async def test_a_driver_error_terminates_the_connection_and_the_next_use_gets_a_fresh_one() -> None:
    store, pool = _store()
    broken = asyncpg.InternalClientError("cannot switch to state 12")
    with pytest.raises(PersistenceError, match="cannot switch to state 12") as info:
        async with store._autocommit():
            raise broken
    assert info.value.__cause__ is broken and "secret" not in str(info.value)
    first = pool.made[0]
    assert first.terminated and pool.released == [first] and store._spare is None
    async with store._autocommit() as conn:
        assert conn._c is pool.made[1]
    assert store._spare is pool.made[1]


async def test_a_spare_that_died_while_idle_is_replaced() -> None:
    store, pool = _store()
    async with store._autocommit():
        pass
    pool.made[0].released_by_driver = True  # the server went away while it sat idle
    for _ in range(3):
        async with store._autocommit():
            pass
    assert [c.name for c in pool.made] == ["c0", "c1"] and store._spare is pool.made[1]
    assert pool.released == [pool.made[0]]


async def test_a_cancelled_use_gives_the_connection_back_to_the_pool() -> None:
    store, pool = _store()
    started = asyncio.Event()

    async def query() -> None:
        async with store._autocommit():
            started.set()
            await asyncio.sleep(10)  # a query in flight

    task = asyncio.create_task(query())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the pool waits for the cancelled query to stop; the role stays available
    assert pool.released == [pool.made[0]] and store._spare is None and store._spare_free


async def test_only_one_task_holds_the_spare_role_at_a_time() -> None:
    store, pool = _store()
    inside: list[object] = []

    async def use() -> None:
        async with store._autocommit() as conn:
            inside.append(conn._c)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(use() for _ in range(5)))
    assert len({id(c) for c in inside}) == 5  # five tasks, five connections
    kept = [c for c in pool.made if c not in pool.released]
    assert kept == [store._spare]  # one kept as the spare, the others went back
