"""``PostgresPersistenceProvider``: the store shared by many workers, on asyncpg's pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from ruvon.errors import PersistenceError
from ruvon.implementations.persistence.sql.queries import Dialect, Query, with_parts
from ruvon.implementations.persistence.sql.store import Connection, Row, SQLStore
from ruvon.providers.persistence import Transition


def _same(value: Any) -> Any:
    return value


def _json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows).decode()


_CHANGED = "SELECT count(*) AS changed FROM moved"  # 0: the version check failed


POSTGRES = Dialect(
    "postgres",
    {
        "json": "JSONB",
        "float": "DOUBLE PRECISION",
        "bool": "BOOLEAN",
        "serial_pk": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "without_rowid": "",
    },
    marker="$",
)
_MIGRATION_LOCK = 0x52_55_56_4F_4E  # "RUVON": one advisory lock for schema changes


def redact(url: str) -> str:
    """The URL with its password hidden (in the host part or as ``?password=``)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@")
    pairs = [pair.partition("=") for pair in parts.query.split("&") if pair]
    query = "&".join(
        f"{k}=***" if k.lower() == "password" else f"{k}{sep}{v}" for k, sep, v in pairs
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class _Conn:
    __slots__ = ("_c",)

    def __init__(self, conn: Any) -> None:
        self._c = conn

    async def execute(self, query: Query, values: dict[str, Any]) -> int:
        status: str = await self._c.execute(query.sql, *query.args(values))
        return int(status.rsplit(" ", 1)[-1])

    async def executemany(self, query: Query, rows: list[dict[str, Any]]) -> None:
        await self._c.executemany(query.sql, [query.args(r) for r in rows])

    async def fetchone(self, query: Query, values: dict[str, Any]) -> Row | None:
        row: Row | None = await self._c.fetchrow(query.sql, *query.args(values))
        return row

    async def fetchall(self, query: Query, values: dict[str, Any]) -> list[Row]:
        rows: list[Row] = await self._c.fetch(query.sql, *query.args(values))
        return rows

    async def script(self, statements: list[str]) -> None:
        for statement in statements:
            await self._c.execute(statement)


async def _keep_session(conn: Any) -> None:
    """Pool reset hook. The default resets the session with an extra round trip on every
    release; the store leaves no session state behind (transactions are closed by their
    context, advisory locks are transaction-scoped), so there is nothing to reset."""


class _Reader:
    """``async with``: a connection outside an explicit transaction (the spare one when it is
    free, else one from the pool); driver errors leave as ``PersistenceError``.

    A small class rather than ``@asynccontextmanager`` over :meth:`_connection`: it runs for
    every commit, and two generator-based context managers cost more than the rest of the
    Python side of a commit.
    """

    __slots__ = ("_acquired", "_spare", "_store")

    def __init__(self, store: PostgresPersistenceProvider) -> None:
        self._store = store
        self._spare: Any = None
        self._acquired: Any = None

    async def __aenter__(self) -> Connection:
        store = self._store
        spare = store._spare
        if spare is not None and not spare.is_closed():
            store._spare = None  # no await between the check and the take
            self._spare = spare
            return _Conn(spare)
        acquired = store._pool.acquire()
        try:
            conn = await acquired.__aenter__()
        except Exception as exc:
            store._raise_translated(exc)
            raise
        self._acquired = acquired
        return _Conn(conn)

    async def __aexit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        store = self._store
        if self._spare is not None:
            if not self._spare.is_closed():
                store._spare = self._spare
        elif self._acquired is not None:
            try:
                await self._acquired.__aexit__(kind, exc, tb)
            except Exception as release_error:  # the release failed (closing, resetting)
                if release_error is not exc:
                    store._raise_translated(release_error)
                raise
        if isinstance(exc, Exception):
            store._raise_translated(exc)


class PostgresPersistenceProvider(SQLStore):
    """Workflows in PostgreSQL, through a pool of ``min_size``..``max_size`` connections."""

    dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
        application_name: str = "ruvon",
    ) -> None:
        self.application_name = application_name
        self.url = url
        self.min_size, self.max_size = min_size, max_size
        self.connect_timeout = connect_timeout
        self._pool: Any = None
        self._spare: Any = None
        self._opening: asyncio.Future[None] | None = None
        super().__init__()

    @property
    def where(self) -> str:
        return f"PostgreSQL database '{redact(self.url)}'"

    async def initialize(self) -> None:
        """Open the pool and migrate, once: concurrent first calls share one attempt (and its
        error, if it fails; the next call then tries again)."""
        if self._ready:
            return
        opening = self._opening
        if opening is None:
            opening = self._opening = asyncio.ensure_future(self._initialize_once())
        # shielded: a caller that is cancelled does not cancel the others' initialization
        await asyncio.shield(opening)

    async def _initialize_once(self) -> None:
        try:
            await super().initialize()
        finally:
            self._opening = None

    async def _open(self) -> None:
        try:
            import asyncpg
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise PersistenceError(
                "the PostgreSQL store needs asyncpg: pip install 'ruvon[postgres]'"
            ) from exc
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self.url,
                min_size=self.min_size,
                max_size=self.max_size,
                timeout=self.connect_timeout,
                reset=_keep_session,
                server_settings={"application_name": self.application_name},
            )
            if self._pool is not None:  # opened meanwhile by another caller of migrate()
                await pool.close()
                return
            self._pool = pool
            # one connection kept out of the pool for back-to-back use: a sequential runner
            # then skips the pool's acquire/release (about 100 µs a statement). Not with a
            # pool of one, whose only connection the other tasks must be able to wait for.
            if self.max_size > 1:
                self._spare = await self._pool.acquire()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if self._pool is not None:
                await self._pool.close()
                self._pool = None
            raise PersistenceError(f"can not connect to {self.where}: {exc}") from exc

    async def _close(self) -> None:
        if self._pool is not None:
            spare, self._spare = self._spare, None
            if spare is not None:
                await self._pool.release(spare)
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """The spare connection when it is free (no await between the check and the take),
        else one from the pool."""
        spare = self._spare
        if spare is None or spare.is_closed():
            async with self._pool.acquire() as conn:
                yield conn
            return
        self._spare = None
        try:
            yield spare
        finally:
            if not spare.is_closed():
                self._spare = spare

    def _error(self, exc: Exception) -> PersistenceError:
        return PersistenceError(f"{self.where}: {type(exc).__name__}: {exc}")

    def _raise_translated(self, exc: Exception) -> None:
        """Raise a driver or network error as ``PersistenceError``; return on anything else
        (the caller re-raises it as it is)."""
        import asyncpg

        if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError):
            raise self._error(exc) from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        import asyncpg

        try:
            async with self._connection() as conn, conn.transaction():
                yield _Conn(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise self._error(exc) from exc

    def _reader(self) -> _Reader:
        return _Reader(self)

    # One round trip per write: the statements a transition needs run as one data-modifying CTE
    # (atomic on its own), instead of BEGIN, UPDATE, INSERTs and COMMIT, each waiting for the
    # server.

    async def _insert_workflow(self, values: dict[str, Any]) -> bool:
        async with self._reader() as conn:
            row = await conn.fetchone(self._q["pg_create_workflow"], values)
        return bool(row and row["changed"])

    async def _apply_transition(self, t: Transition, values: dict[str, Any]) -> bool:
        parts = ["moved"]  # ``values`` is this commit's own dict: the parts' values join it
        if t.steps:
            parts.append("steps")
            values["steps"] = _json([self._step_values(t.workflow_id, s, _same) for s in t.steps])
        if t.compensations:
            parts.append("compensations")
            values["compensations"] = _json(
                [self._comp_values(t.workflow_id, c, _same) for c in t.compensations]
            )
        if t.status is not t.previous_status:
            parts.append("audit")
            values["from_status"] = t.previous_status.value
            values["reason"] = t.reason
        if t.metrics:
            parts.append("metrics")
            values["metrics"] = _json([{"name": n, "value": v} for n, v in t.metrics])
        query = with_parts(self.dialect, "pg_transition_", tuple(parts), _CHANGED)
        async with self._reader() as conn:
            row = await conn.fetchone(query, values)
        return bool(row and row["changed"])

    def _renew_detached(self, rows: list[dict[str, Any]]) -> set[str]:
        # the pool belongs to the application's event loop: use a short-lived connection on a
        # loop of this thread's own (a renewal happens every third of a lease)
        return asyncio.run(self._renew_on_own_connection(rows))

    async def _renew_on_own_connection(self, rows: list[dict[str, Any]]) -> set[str]:
        import asyncpg

        query = self._q["renew_lease"]
        conn = await asyncpg.connect(
            self.url,
            timeout=self.connect_timeout,
            server_settings={"application_name": self.application_name},
        )
        try:
            renewed = set()
            for row in rows:
                status: str = await conn.execute(query.sql, *query.args(row))
                if status.rsplit(" ", 1)[-1] != "0":
                    renewed.add(row["id"])
            return renewed
        finally:
            await conn.close()

    async def _has_schema(self, conn: Connection) -> bool:
        assert isinstance(conn, _Conn)
        return bool(await conn._c.fetchval("SELECT to_regclass('ruvon_schema') IS NOT NULL"))

    async def _lock_migrations(self, conn: Connection) -> None:
        assert isinstance(conn, _Conn)
        await conn._c.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
