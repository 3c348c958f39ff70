"""Fixtures of the store contract suite: the same tests on every persistence provider.

``store`` is parametrized over ``memory``, ``sqlite`` and ``postgres``; ``sql_backend`` over the
two SQL stores only. SQLite gets a fresh file per test. PostgreSQL gets ONE fresh database per
test session (created by :func:`pg_database`, dropped at the end), and every test starts from
empty ruvon tables (rows deleted, or tables dropped when a test left another schema version).

The server is ``RUVON_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``;
the URL names the maintenance database used for CREATE/DROP DATABASE). When it can not be reached
the postgres tests are skipped with the reason, except on CI (``CI=true``) where they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from contract_backends import PG_CONNECT_TIMEOUT, PG_URL, Backend, reset_postgres

from ruvon.providers.persistence import PersistenceProvider

POSTGRES = pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)
ALL_STORES = ["memory", "sqlite", POSTGRES]
SQL_STORES = ["sqlite", POSTGRES]


# --- PostgreSQL: one database per session ------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _server(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"


async def _create_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL, timeout=PG_CONNECT_TIMEOUT)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL, timeout=PG_CONNECT_TIMEOUT)
    try:
        # a store a test forgot to close (or a leaked pool) must not keep the database alive
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of a database created for this test session (sync: its own short event loop)."""
    try:
        import asyncpg
    except ImportError as exc:  # pragma: no cover - asyncpg is a dev dependency
        _unavailable(f"asyncpg is not installed: {exc}")
    name = f"ruvon_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        asyncio.run(_create_database(name))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _unavailable(f"PostgreSQL not reachable at {_server(PG_URL)}: {type(exc).__name__}: {exc}")
    try:
        yield _with_database(PG_URL, name)
    finally:
        asyncio.run(_drop_database(name))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _spec(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """Resolved in a sync fixture: ``pg_database`` runs its own event loop, outside the test's."""
    name = request.param
    if name == "memory":
        return name, None
    if name == "sqlite":
        return name, str(tmp_path / "ruvon.db")
    return name, request.getfixturevalue("pg_database")


@pytest.fixture(params=ALL_STORES)
def _any_store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    return _spec(request, tmp_path)


@pytest.fixture(params=SQL_STORES)
def _sql_store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    return _spec(request, tmp_path)


async def _open_backend(spec: tuple[str, str | None]) -> Backend:
    name, target = spec
    if name == "postgres":
        assert target is not None
        await reset_postgres(target)
    return Backend(name, target)


@pytest.fixture
async def backend(_any_store_spec: tuple[str, str | None]) -> AsyncIterator[Backend]:
    """One store kind (memory, sqlite, postgres) with an empty database."""
    b = await _open_backend(_any_store_spec)
    try:
        yield b
    finally:
        await b.close_all()


@pytest.fixture
async def sql_backend(_sql_store_spec: tuple[str, str | None]) -> AsyncIterator[Backend]:
    """One SQL store kind (sqlite, postgres) with an empty database."""
    b = await _open_backend(_sql_store_spec)
    try:
        yield b
    finally:
        await b.close_all()


@pytest.fixture
async def store(backend: Backend) -> PersistenceProvider:
    """A store with an empty database; closed at the end of the test (by ``backend``)."""
    s: PersistenceProvider = backend.new_store()
    await s.initialize()
    return s


@pytest.fixture
async def sql_store(sql_backend: Backend) -> PersistenceProvider:
    s: PersistenceProvider = sql_backend.new_store()
    await s.initialize()
    return s
