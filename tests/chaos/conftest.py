"""Fixtures of the outage tests: a private PostgreSQL cluster they may stop and restart.

The shared server (``RUVON_TEST_POSTGRES_URL``) is never stopped: other test runs use it.
``pg_cluster`` is one cluster per session, made with ``initdb`` in a temporary directory and
removed at the end; ``pg_url`` is a fresh database in it for one test, with the server running
when the test starts. When no cluster can be made here (no PostgreSQL binaries, initdb
refused), the tests are skipped with the reason, except on CI (``CI=true``) where they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # the tests import ``pg_cluster`` and ``chaos_steps`` from here
    sys.path.insert(0, _HERE)

from pg_cluster import ClusterUnavailable, PrivateCluster  # noqa: E402


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PrivateCluster]:
    try:
        import asyncpg  # noqa: F401
    except ImportError as exc:  # pragma: no cover - asyncpg is a dev dependency
        _unavailable(f"asyncpg is not installed: {exc}")
    try:
        cluster = PrivateCluster.create()
    except ClusterUnavailable as exc:
        _unavailable(f"can not make a private PostgreSQL cluster: {exc}")
    try:
        cluster.start()
    except ClusterUnavailable as exc:
        cluster.remove()
        _unavailable(f"can not start a private PostgreSQL cluster: {exc}")
    try:
        yield cluster
    finally:
        cluster.remove()


async def _create_database(url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.fixture
def pg_url(pg_cluster: PrivateCluster) -> str:
    """A fresh database in the private cluster (running), for one test."""
    if not pg_cluster.running():  # a test that failed half-way may have left it stopped
        pg_cluster.start()
    name = f"ruvon_{secrets.token_hex(4)}"
    asyncio.run(_create_database(pg_cluster.url(), name))
    return pg_cluster.url(name)
