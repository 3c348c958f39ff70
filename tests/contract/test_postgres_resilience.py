"""The Postgres store under concurrent first use, dropped connections and cancelled calls.

These run on the session's database of the shared server and disturb only the store's own
connections (found by a per-test ``application_name``); the server itself is never stopped
(that is ``tests/chaos``, on a private cluster).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from contract_backends import PG_CONNECT_TIMEOUT, reset_postgres
from contract_helpers import record, state_of, transition

from ruvon.errors import PersistenceError, RuvonError
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


@dataclass
class _Traffic:
    """Writers, cancelled callers and a dropper of the store's connections, on one store."""

    store: PostgresPersistenceProvider
    admin: asyncpg.Connection
    app: str
    rng: random.Random = field(default_factory=lambda: random.Random(8))
    dropping: bool = True
    seen: list[BaseException] = field(default_factory=list)  # every error a caller saw
    final: dict[str, int] = field(default_factory=dict)  # workflow id -> last state.n committed
    created: list[str] = field(default_factory=list)

    async def writer(self, i: int) -> None:
        """Create a workflow, then commit, read back and list, until ten rounds succeeded
        after the drops stopped. A failure (while dropping) reloads the row: the commit
        whose answer was lost may have landed."""
        store, row, n, rounds = self.store, None, 0, 0
        while rounds < 10:
            try:
                if row is None:
                    row = await store.create_workflow(record(idempotency_key=f"k-{i}"))
                    n = state_of(row).get("n", 0)
                    self.created.append(row.id)
                await store.commit(transition(row, state={"n": n + 1}))
                n += 1
                row = await store.load_workflow(row.id)
                assert state_of(row) == {"n": n}
                await store.list_workflows(limit=3)
                rounds += 0 if self.dropping else 1
            except RuvonError as exc:
                self.seen.append(exc)
                if not self.dropping:
                    raise
                await asyncio.sleep(0.01)
                row = None if row is None else await self._reload(row.id)
                n = 0 if row is None else state_of(row)["n"]
        assert row is not None
        self.final[row.id] = n

    async def _reload(self, wid: str) -> Any:
        while True:
            try:
                return await self.store.load_workflow(wid)
            except PersistenceError as exc:
                self.seen.append(exc)
                await asyncio.sleep(0.01)

    async def canceller(self) -> None:
        """Calls cancelled part-way (a read, a write in a transaction)."""
        store = self.store
        while self.dropping:
            wid = self.rng.choice(self.created) if self.created else "none"
            call = (
                store.list_workflows(limit=50)
                if self.rng.random() < 0.5
                else store.log_execution(wid, "INFO", "x")
            )
            try:
                await asyncio.wait_for(call, self.rng.uniform(0.0002, 0.003))
            except TimeoutError:
                pass  # the cancellation this task is for
            except RuvonError as exc:
                self.seen.append(exc)

    async def dropper(self) -> None:
        """Terminate the store's server connections 15 times, as a restart would."""
        for _ in range(15):
            await asyncio.sleep(0.08)
            await self.admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = $1",
                self.app,
            )
        # an idle pooled connection learns of its end from the server's FATAL message and the
        # socket's close right after: calls in that instant still fail (PersistenceError)
        await asyncio.sleep(0.3)
        self.dropping = False


async def test_dropped_connections_and_cancelled_calls__callers_see_only_persistence_errors(
    url: str, admin: asyncpg.Connection
) -> None:
    """40 tasks write and read while the server drops the store's connections and other
    callers are cancelled mid-query: no raw driver error reaches a caller, nothing committed
    is lost, and once the drops stop every call succeeds again (the same store)."""
    app = f"ruvon-drops-{secrets.token_hex(3)}"
    store = PostgresPersistenceProvider(url, max_size=5, application_name=app)
    await store.initialize()
    traffic = _Traffic(store, admin, app)
    try:
        await asyncio.wait_for(
            asyncio.gather(
                traffic.dropper(),
                *(traffic.canceller() for _ in range(3)),
                *(traffic.writer(i) for i in range(40)),
            ),
            60,
        )
    finally:
        await asyncio.wait_for(store.close(), 10)
    raw = [e for e in traffic.seen if not isinstance(e, PersistenceError)]
    assert not raw, raw[:3]
    assert traffic.seen  # the drops were felt
    assert len(traffic.final) == 40
    check = PostgresPersistenceProvider(url, max_size=2)
    try:
        for wid, n in traffic.final.items():
            assert state_of(await check.load_workflow(wid)) == {"n": n}
    finally:
        await check.close()
