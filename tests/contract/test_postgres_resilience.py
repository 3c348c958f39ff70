"""The Postgres store under concurrent first use.

These run on the session's database of the shared server and disturb only the store's own
connections (found by a per-test ``application_name``); the server itself is never stopped
(that is ``tests/chaos``, on a private cluster).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from contract_backends import PG_CONNECT_TIMEOUT, reset_postgres

from ruvon.errors import PersistenceError
from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

pytestmark = pytest.mark.postgres

MAX_SIZE = 10


@pytest.fixture
async def url(pg_database: str) -> str:
    await reset_postgres(pg_database)
    return pg_database


@pytest.fixture
async def admin(pg_database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_database, timeout=PG_CONNECT_TIMEOUT)
    try:
        yield conn
    finally:
        await conn.close()


async def _connections(admin: asyncpg.Connection, app: str) -> int:
    count: int = await admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app
    )
    return count


async def _gone(admin: asyncpg.Connection, app: str, within: float = 3.0) -> int:
    """The store's server connections left once they had ``within`` seconds to go away (a
    backend leaves pg_stat_activity a moment after its client hung up)."""
    deadline = time.monotonic() + within
    while (left := await _connections(admin, app)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return left


@pytest.mark.parametrize("callers", [50, 150])
async def test_first_use_by_many_tasks__opens_one_pool_within_its_bound(
    url: str, admin: asyncpg.Connection, callers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools: list[Any] = []
    create_pool = asyncpg.create_pool

    def counted(*args: Any, **kwargs: Any) -> Any:
        pool = create_pool(*args, **kwargs)
        pools.append(pool)
        return pool

    monkeypatch.setattr(asyncpg, "create_pool", counted)
    app = f"ruvon-first-use-{secrets.token_hex(3)}"
    store = PostgresPersistenceProvider(url, max_size=MAX_SIZE, application_name=app)
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, await _connections(admin, app))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(store.list_workflows() for _ in range(callers))), 30
        )
    finally:
        done.set()
        await watcher
        open_after_calls = await _connections(admin, app)
        await asyncio.wait_for(store.close(), 10)  # raises nothing
    assert results == [[]] * callers
    assert len(pools) == 1
    assert peak <= MAX_SIZE and open_after_calls <= MAX_SIZE
    assert await _gone(admin, app) == 0


async def test_a_failed_first_use_is_shared_and_the_next_call_tries_again(
    url: str, admin: asyncpg.Connection
) -> None:
    app = f"ruvon-first-fail-{secrets.token_hex(3)}"
    missing = url.rsplit("/", 1)[0] + f"/ruvon_missing_{secrets.token_hex(3)}"
    store = PostgresPersistenceProvider(missing, max_size=MAX_SIZE, application_name=app)
    outcomes = await asyncio.gather(
        *(store.list_workflows() for _ in range(30)), return_exceptions=True
    )
    assert all(isinstance(o, PersistenceError) for o in outcomes), outcomes[:3]
    assert len({id(o) for o in outcomes}) == 1  # one attempt, its error shared
    assert "can not connect" in str(outcomes[0]) and "does not exist" in str(outcomes[0])
    store.url = url  # the database is there now: the next call opens the store
    assert await store.list_workflows() == []
    await asyncio.wait_for(store.close(), 10)
    assert await _gone(admin, app) == 0
