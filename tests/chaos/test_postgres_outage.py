"""The Postgres store across a server restart and an outage (a private cluster: see conftest).

What must hold: while the server is gone every call fails with a ``PersistenceError`` naming the
database; the same store object works again once the server is back, without being reopened;
``close()`` returns within its bound even while the server is down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pg_cluster import PrivateCluster

from ruvon.errors import PersistenceError
from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

pytestmark = pytest.mark.postgres


def _store(url: str, **options: Any) -> PostgresPersistenceProvider:
    options.setdefault("max_size", 4)
    options.setdefault("connect_timeout", 2.0)
    options.setdefault("close_timeout", 2.0)
    return PostgresPersistenceProvider(url, **options)


async def _works_again(call: Callable[[], Awaitable[object]], within: float = 10.0) -> int:
    """Call until it succeeds; every failure on the way must be a PersistenceError. Return how
    many calls failed before the first success."""
    failures = 0
    deadline = time.monotonic() + within
    while True:
        try:
            await call()
            return failures
        except PersistenceError:
            failures += 1
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_restart__the_same_store_works_again(
    pg_cluster: PrivateCluster, pg_url: str, mode: str
) -> None:
    store = _store(pg_url)
    try:
        await store.list_workflows()  # opened; its connections (the spare too) now sit idle
        await asyncio.to_thread(pg_cluster.restart, mode)
        # the idle connections died with the server: at most a call or two sees that
        failures = await _works_again(store.list_workflows)
        assert failures <= 2
        for _ in range(5):  # and it stays working
            assert await store.list_workflows() == []
    finally:
        await asyncio.wait_for(store.close(), 10)


async def test_outage__calls_fail_as_persistence_errors_then_work_after_the_server_is_back(
    pg_cluster: PrivateCluster, pg_url: str
) -> None:
    store = _store(pg_url)
    try:
        await store.list_workflows()
        await asyncio.to_thread(pg_cluster.stop, "fast")
        for call in (store.list_workflows, lambda: store.load_workflow("nope")) * 3:
            with pytest.raises(PersistenceError) as info:
                await call()
            assert "127.0.0.1" in str(info.value)  # names the database
        await asyncio.to_thread(pg_cluster.start)
        await _works_again(store.list_workflows)
        assert await store.find_recoverable(time.time()) == []
    finally:
        await asyncio.wait_for(store.close(), 10)


async def test_outage__concurrent_callers_see_only_persistence_errors(
    pg_cluster: PrivateCluster, pg_url: str
) -> None:
    store = _store(pg_url, max_size=5)
    await store.initialize()
    stop = asyncio.Event()
    failures: list[BaseException] = []
    calls = 0

    async def caller() -> None:
        nonlocal calls
        while not stop.is_set():
            calls += 1
            try:
                await store.list_workflows(limit=5)
            except Exception as exc:
                failures.append(exc)
                await asyncio.sleep(0.02)

    tasks = [asyncio.create_task(caller()) for _ in range(30)]
    try:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(pg_cluster.restart, "fast")
        await asyncio.sleep(0.3)
        await asyncio.to_thread(pg_cluster.stop, "immediate")
        await asyncio.sleep(1.0)
        await asyncio.to_thread(pg_cluster.start)
        await asyncio.sleep(0.5)
        failures_before = len(failures)
        await asyncio.sleep(0.5)
        assert len(failures) == failures_before, failures[failures_before:][:3]
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await asyncio.wait_for(store.close(), 10)
    raw = [f for f in failures if not isinstance(f, PersistenceError)]
    assert failures and not raw, raw[:3]
    assert calls > len(failures)


async def test_close_is_bounded_while_the_server_is_down(
    pg_cluster: PrivateCluster, pg_url: str
) -> None:
    store = _store(pg_url, close_timeout=2.0)
    await store.list_workflows()
    await asyncio.to_thread(pg_cluster.stop, "immediate")
    with pytest.raises(PersistenceError):
        await store.list_workflows()
    started = time.monotonic()
    await asyncio.wait_for(store.close(), 10)
    assert time.monotonic() - started < 3.0
    await asyncio.to_thread(pg_cluster.start)
    # closed is not broken: the next call opens it again
    try:
        await _works_again(store.list_workflows)
    finally:
        await asyncio.wait_for(store.close(), 10)


async def test_close_is_bounded_while_a_call_hangs_on_a_frozen_server(
    pg_cluster: PrivateCluster, pg_url: str
) -> None:
    store = _store(pg_url, close_timeout=1.0)
    await store.list_workflows()
    pg_cluster.freeze()
    try:
        hung = asyncio.create_task(store.list_workflows())
        await asyncio.sleep(0.2)
        assert not hung.done()
        started = time.monotonic()
        await asyncio.wait_for(store.close(), 10)
        assert time.monotonic() - started < 2.0
        with pytest.raises(PersistenceError):  # its connection was dropped by close()
            await asyncio.wait_for(hung, 5)
    finally:
        pg_cluster.thaw()
    try:
        await _works_again(store.list_workflows)
    finally:
        await asyncio.wait_for(store.close(), 10)
