"""The Postgres chores of bench/run.py: server facts, fresh databases, ruvon-sdk's schema."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(parts.password, "***")))


def with_database(url: str, name: str, scheme: str | None = None) -> str:
    parts = urlsplit(url)._replace(path=f"/{name}")
    return urlunsplit(parts._replace(scheme=scheme) if scheme else parts)


def _run(admin: str, *statements: str, fetch: str | None = None) -> Any:
    async def go() -> Any:
        conn = await asyncpg.connect(admin, timeout=5)
        try:
            for statement in statements:
                await conn.execute(statement)
            return await conn.fetchval(fetch) if fetch else None
        finally:
            await conn.close()

    return asyncio.run(go())


def server_version(admin: str) -> str:
    return str(_run(admin, fetch="SHOW server_version"))


def server_settings(admin: str) -> dict[str, str]:
    """The durability settings a commit's cost depends on."""
    names = ("fsync", "synchronous_commit", "wal_sync_method")
    return {f"Postgres {name}": str(_run(admin, fetch=f"SHOW {name}")) for name in names}


def create_database(admin: str, name: str, template: str | None = None) -> str:
    """A fresh database (copied from ``template`` if given); its URL."""
    clause = f" TEMPLATE {template}" if template else ""
    _run(admin, f"CREATE DATABASE {name}{clause}")
    return with_database(admin, name)


def drop_database(admin: str, name: str) -> None:
    _run(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def sdk_template(admin: str, sdk_python: Path) -> str:
    """A database holding ruvon-sdk 0.1.5's schema, to copy for each of its Postgres runs.

    Its Postgres provider creates no tables; the package ships Alembic migrations for them
    (``ruvon/alembic``), run here with its own ``alembic`` and psycopg2. One fix on top: the
    migrations give ``compensation_log.log_id`` no default while the provider's INSERT leaves
    it out, so every compensation fails with a NOT NULL violation without it.
    """
    name = f"bench_sdk_template_{uuid.uuid4().hex[:8]}"
    url = create_database(admin, name)
    package = subprocess.run(
        [str(sdk_python), "-c", "import ruvon, os; print(os.path.dirname(ruvon.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    env = {**os.environ, "DATABASE_URL": with_database(admin, name, "postgresql+psycopg2")}
    done = subprocess.run(
        [str(sdk_python.parent / "alembic"), "-c", "alembic.ini", "upgrade", "head"],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        drop_database(admin, name)
        raise RuntimeError(f"its Alembic migrations failed: {done.stderr.strip()[-300:]}")
    _run(
        url,
        "ALTER TABLE compensation_log ALTER COLUMN log_id SET DEFAULT gen_random_uuid()::text",
    )
    return name
