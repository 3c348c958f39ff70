"""``PostgresPersistenceProvider``: the store shared by many workers, on asyncpg's pool."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pydantic_core

from ruvon.errors import PersistenceError
from ruvon.implementations.persistence.sql.queries import Dialect, Query, with_parts
from ruvon.implementations.persistence.sql.store import Connection, Row, SQLStore
from ruvon.providers.persistence import Transition


def _same(value: Any) -> Any:
    return value


def _json(rows: list[dict[str, Any]]) -> str:
    return pydantic_core.to_json(rows).decode()  # integers beyond 64 bits, unlike orjson


# changed 0: the version or lease check failed; else the pending cancellation request
_CHANGED = "SELECT count(*) AS changed, max(cancel_requested) AS cancel_requested FROM moved"


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

log = logging.getLogger("ruvon.persistence")


def redact(url: str) -> str:
    """The URL with its password hidden (in the host part or as ``?password=``), also in a
    URL too malformed to parse."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL": hide whatever could be a password
        url = re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)
        return re.sub(r"(?i)(password=)[^&]*", r"\1***", url)
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


def _alive(conn: Any) -> bool:
    """Whether a pooled connection can take another statement. A proxy whose connection was
    lost has already been given back to the pool by asyncpg, and then ``is_closed()`` itself
    raises (``InterfaceError: ... released back to the pool``): that is a dead one too."""
    try:
        return not conn.is_closed()
    except Exception:
        return False


def _terminate(conn: Any) -> None:
    try:
        conn.terminate()
    except Exception:  # already given back to the pool: its connection is gone
        log.debug("connection already released", exc_info=True)


class _Autocommit:
    """``async with``: a connection outside an explicit transaction; driver errors leave as
    ``PersistenceError``.

    The spare: one pooled connection the store keeps acquired between uses, so that a
    sequential runner skips the pool's acquire and release (about 100 µs a statement). One task
    at a time holds the *spare role* (taken and given back with no await in between); the
    others use the pool. The role keeps its connection only after a clean use: a connection
    that raised is given back to the pool (a driver error terminates it first: after a FATAL
    message its socket can still look open while its protocol waits for a reply that never
    comes, and the next statement would fail with ``cannot switch to state``), and the next
    holder of the role acquires a fresh one. So a lost spare heals by itself, and the spare
    counts in ``max_size`` like any pooled connection.

    A small class rather than ``@asynccontextmanager``: it runs for every commit, and
    generator-based context managers cost more than the rest of the Python side of a commit.
    """

    __slots__ = ("_acquired", "_conn", "_pool", "_role", "_store")

    def __init__(self, store: PostgresPersistenceProvider) -> None:
        self._store = store
        self._pool: Any = None
        self._conn: Any = None
        self._acquired: Any = None
        self._role = False

    async def __aenter__(self) -> Connection:
        store = self._store
        self._pool = store._pool
        if not store._spare_free:
            self._conn = await self._acquire(keep_context=True)
            return _Conn(self._conn)
        store._spare_free = False  # no await between the check and the take
        self._role = True
        spare, store._spare = store._spare, None
        if spare is not None and _alive(spare):
            self._conn = spare
            return _Conn(spare)
        try:
            if spare is not None:
                # it died while idle: usually asyncpg gave it back already (then this returns
                # at once); a connection closed without that cleanup still holds its slot
                await self._give_back(spare, quiet=True)
            self._conn = await self._acquire(keep_context=False)
        except BaseException:
            store._spare_free = True
            raise
        return _Conn(self._conn)

    async def _acquire(self, *, keep_context: bool) -> Any:
        acquired = self._pool.acquire()
        try:
            conn = await acquired.__aenter__()
        except Exception as exc:
            self._store._raise_translated(exc)
            raise
        if keep_context:  # released through it on exit; the spare role releases by hand
            self._acquired = acquired
        return conn

    async def __aexit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        store = self._store
        conn = self._conn
        if exc is None and self._role and self._pool is store._pool and _alive(conn):
            store._spare = conn  # the common case: the spare goes back, no await
            store._spare_free = True
            return
        driver_error = exc is not None and store._is_driver_error(exc)
        if driver_error:
            _terminate(conn)  # not trusted again; the pool replaces it on a later acquire
        if self._role:
            await self._leave_role(conn, exc, driver_error)
        elif self._acquired is not None:
            await self._release(kind, exc, tb)
        if driver_error:
            assert isinstance(exc, Exception)
            raise store._error(exc) from exc

    async def _leave_role(self, conn: Any, exc: BaseException | None, driver_error: bool) -> None:
        store = self._store
        if self._pool is not store._pool:  # the store was closed (and maybe reopened) meanwhile
            await self._give_back(conn, quiet=True)
            return
        # an error the store raised between statements (a conflict, a missing workflow)
        # leaves the connection idle; a driver error or a cancellation (a query may still be
        # running) does not
        clean = exc is None or (isinstance(exc, Exception) and not driver_error)
        if clean and _alive(conn):
            store._spare = conn
            store._spare_free = True
            return
        store._spare_free = True  # the next holder of the role acquires a fresh connection
        await self._give_back(conn, quiet=exc is not None)

    async def _give_back(self, conn: Any, *, quiet: bool) -> None:
        """Return a connection the spare role held to its pool, which waits for a cancelled
        query to stop and rolls back a transaction left open (a terminated one returns at
        once). ``quiet``: a failure is only logged (an error is already on its way out)."""
        try:
            await self._pool.release(conn)
        except Exception as release_error:
            if not quiet:
                self._store._raise_translated(release_error)
                raise
            log.debug("giving back a connection failed: %r", release_error)

    async def _release(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            await self._acquired.__aexit__(kind, exc, tb)
        except Exception as release_error:  # the release failed (closing, resetting)
            if release_error is not exc:
                self._store._raise_translated(release_error)
            raise


class PostgresPersistenceProvider(SQLStore):
    """Workflows in PostgreSQL, through a pool of ``min_size``..``max_size`` connections.

    The pool is opened once, on first use, however many tasks make that first call at once.
    A connection lost to a server restart or outage fails the call using it (a
    ``PersistenceError``); later calls get new connections as soon as the server accepts them.
    ``close()`` waits up to ``close_timeout`` seconds for calls in flight, then drops the
    connections. With ``auto_init=False`` the schema is not created or migrated: the first
    use then requires an up-to-date schema (``ruvon db migrate`` makes one).
    """

    dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
        close_timeout: float = 5.0,
        application_name: str = "ruvon",
        auto_init: bool = True,
    ) -> None:
        self.application_name = application_name
        self.auto_init = auto_init
        self.url = url
        self.min_size, self.max_size = min_size, max_size
        self.connect_timeout = connect_timeout
        self.close_timeout = close_timeout
        self._pool: Any = None
        self._spare: Any = None
        # whether a task may take the spare role (see _Autocommit); never with a pool of one, whose
        # only connection the other tasks must be able to wait for
        self._spare_free = False
        self._opening: asyncio.Future[None] | None = None
        super().__init__()

    @property
    def where(self) -> str:
        return f"PostgreSQL database '{redact(self.url)}'"

    async def initialize(self) -> None:
        """Open the pool and migrate (``auto_init=False``: check the schema), once: concurrent
        first calls share one attempt (and its error, if it fails; the next call then tries
        again)."""
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
        except Exception as exc:
            if self._is_driver_error(exc):
                raise PersistenceError(
                    f"can not connect to {self.where}: {type(exc).__name__}: {exc}"
                ) from exc
            if isinstance(exc, ValueError | OverflowError):  # a port past 65535, a bad host
                raise PersistenceError(
                    f"can not connect to {self.where}: the URL is not valid: {exc}"
                ) from exc
            raise
        if self._pool is not None:  # opened meanwhile by another caller of migrate()
            await pool.close()
            return
        self._pool = pool
        self._spare = None
        self._spare_free = self.max_size > 1

    async def _close(self) -> None:
        pool, self._pool = self._pool, None
        spare, self._spare = self._spare, None
        self._spare_free = False
        if pool is None:
            return
        closed = False
        try:
            async with asyncio.timeout(self.close_timeout):
                if spare is not None:
                    await pool.release(spare)
                await pool.close()  # waits for the connections that calls in flight still use
            closed = True
        except Exception as exc:  # the timeout, or a connection that can not close cleanly
            log.warning(
                "%s: the pool did not close cleanly within %.1f s (%s: %s); its connections "
                "are dropped",
                self.where,
                self.close_timeout,
                type(exc).__name__,
                exc,
            )
        finally:
            if not closed:
                pool.terminate()

    def _error(self, exc: BaseException) -> PersistenceError:
        return PersistenceError(f"{self.where}: {type(exc).__name__}: {exc}")

    @staticmethod
    def _is_driver_error(exc: BaseException) -> bool:
        """An error of asyncpg or of the network (``TimeoutError`` is an ``OSError``)."""
        import asyncpg

        errors = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
        return isinstance(exc, (*errors, OSError))

    def _raise_translated(self, exc: BaseException) -> None:
        """Raise a driver or network error as ``PersistenceError``; return on anything else
        (the caller re-raises it as it is)."""
        if self._is_driver_error(exc):
            raise self._error(exc) from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        async with self._autocommit() as conn:
            assert isinstance(conn, _Conn)
            async with conn._c.transaction():
                yield conn

    def _autocommit(self) -> _Autocommit:
        return _Autocommit(self)

    # One round trip per write: the statements a transition needs run as one data-modifying CTE
    # (atomic on its own), instead of BEGIN, UPDATE, INSERTs and COMMIT, each waiting for the
    # server.

    async def _insert_workflow(self, values: dict[str, Any]) -> bool:
        async with self._autocommit() as conn:
            row = await conn.fetchone(self._q["pg_create_workflow"], values)
        return bool(row and row["changed"])

    async def _apply_transition(
        self, t: Transition, values: dict[str, Any]
    ) -> tuple[str | None] | None:
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
        async with self._autocommit() as conn:
            row = await conn.fetchone(query, values)
        return (row["cancel_requested"],) if row and row["changed"] else None

    def _renew_detached(self, rows: list[dict[str, Any]]) -> set[str]:
        # the pool belongs to the application's event loop: use a short-lived connection on a
        # loop of this thread's own (a renewal happens every third of a lease)
        try:
            return asyncio.run(self._renew_on_own_connection(rows))
        except Exception as exc:
            self._raise_translated(exc)
            raise

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
            await conn.close(timeout=self.connect_timeout)

    @property
    def _url_hint(self) -> str:
        return redact(self.url)

    async def _has_schema(self, conn: Connection) -> bool:
        assert isinstance(conn, _Conn)
        return bool(await conn._c.fetchval("SELECT to_regclass('ruvon_schema') IS NOT NULL"))

    async def _lock_migrations(self, conn: Connection) -> None:
        assert isinstance(conn, _Conn)
        await conn._c.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
