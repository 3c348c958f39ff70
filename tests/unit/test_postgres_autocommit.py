"""How the Postgres store hands out connections and reports their failures (no server needed:
the pool here is a stand-in whose acquire and release fail on demand)."""

from __future__ import annotations

import pytest

pytest.importorskip("asyncpg")

from ruvon.errors import ConcurrentModificationError, PersistenceError
from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider


class _Conn:
    def is_closed(self) -> bool:
        return False


class _Acquire:
    def __init__(self, pool: _Pool) -> None:
        self.pool = pool

    async def __aenter__(self) -> _Conn:
        if self.pool.acquire_error:
            raise self.pool.acquire_error
        self.pool.out += 1
        return _Conn()

    async def __aexit__(self, *exc: object) -> None:
        self.pool.out -= 1
        if self.pool.release_error:
            raise self.pool.release_error


class _Pool:
    def __init__(self) -> None:
        self.out = 0
        self.acquire_error: BaseException | None = None
        self.release_error: BaseException | None = None

    def acquire(self) -> _Acquire:
        return _Acquire(self)


def _store() -> tuple[PostgresPersistenceProvider, _Pool]:
    store = PostgresPersistenceProvider("postgresql://u:secret@db.invalid/x")
    pool = _Pool()
    store._pool = pool
    return store, pool


async def test_a_failed_release_is_a_persistence_error_without_the_password() -> None:
    store, pool = _store()
    pool.release_error = ConnectionResetError("reset by peer")
    with pytest.raises(PersistenceError) as info:
        async with store._autocommit():
            pass
    assert "reset by peer" in str(info.value) and "secret" not in str(info.value)
    assert pool.out == 0


async def test_a_failed_acquire_is_a_persistence_error() -> None:
    store, pool = _store()
    pool.acquire_error = OSError("connection refused")
    with pytest.raises(PersistenceError, match="connection refused"):
        async with store._autocommit():
            pass


async def test_other_errors_pass_through_unchanged_and_release_the_connection() -> None:
    store, pool = _store()
    conflict = ConcurrentModificationError("wf-1", 1, 2)
    with pytest.raises(ConcurrentModificationError) as info:
        async with store._autocommit():
            raise conflict
    assert info.value is conflict and pool.out == 0
    pool.acquire_error = RuntimeError("not a driver error")
    with pytest.raises(RuntimeError) as raised:
        async with store._autocommit():
            pass
    assert raised.value.__cause__ is not raised.value


async def test_the_spare_connection_is_taken_and_given_back() -> None:
    store, pool = _store()
    spare = _Conn()
    store._spare, store._spare_free = spare, True
    async with store._autocommit():
        assert store._spare is None  # taken: a second task goes to the pool
        async with store._autocommit():
            assert pool.out == 1
    assert store._spare is spare and pool.out == 0
