"""Fixtures of the crash-recovery tests: the session's PostgreSQL database and scenario dirs."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# the test modules import ``recovery_harness`` and ``crashapp`` from this directory
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

PG_SERVER = os.environ.get("RUVON_TEST_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{PG_SERVER}/postgres", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a fresh database ``ruvon_recovery_<pid>``, dropped after the session.

    PostgreSQL unreachable: the test is skipped with the reason (failed when ``CI=true``).
    """
    name = f"ruvon_recovery_{os.getpid()}"
    try:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}"'))
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # asyncpg missing, server down, auth refused...
        reason = f"PostgreSQL at {PG_SERVER} is not usable: {type(exc).__name__}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield f"{PG_SERVER}/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
