"""``SQLitePersistenceProvider``: the embedded default store, one file in WAL mode.

Durability: ``synchronous=FULL`` by default, so a committed transition survives a power cut,
not only a crash of the process. ``synchronous=NORMAL`` (WAL) keeps every commit across a
process crash (SIGKILL included) but may lose the last commits on power loss or an OS crash;
it is several times faster and can be chosen with ``?synchronous=NORMAL`` in the URL.

SQLite calls are made directly on the event loop's thread: they take microseconds (plus the
fsync of a commit), and a single connection keeps each transaction atomic with respect to other
coroutines because no transaction awaits anything in between its statements.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ruvon.errors import PersistenceError
from ruvon.implementations.persistence.sql.queries import Dialect, Query
from ruvon.implementations.persistence.sql.store import Connection, Row, SQLStore

SQLITE = Dialect(
    "sqlite",
    {
        "json": "TEXT",
        "float": "REAL",
        "bool": "INTEGER",
        "serial_pk": "INTEGER PRIMARY KEY",
        "without_rowid": " WITHOUT ROWID",
    },
    marker="?",
)
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_FULL = 5, 6, 13

log = logging.getLogger("ruvon.persistence.sqlite")


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED, extended codes included: another connection holds a lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return "locked" in str(exc) or "busy" in str(exc)
    return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


class _Conn:
    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def execute(self, query: Query, values: dict[str, Any]) -> int:
        return self._db.execute(query.sql, query.args(values)).rowcount

    async def executemany(self, query: Query, rows: list[dict[str, Any]]) -> None:
        self._db.executemany(query.sql, [query.args(r) for r in rows])

    async def fetchone(self, query: Query, values: dict[str, Any]) -> Row | None:
        row: Row | None = self._db.execute(query.sql, query.args(values)).fetchone()
        return row

    async def fetchall(self, query: Query, values: dict[str, Any]) -> list[Row]:
        rows: list[Row] = self._db.execute(query.sql, query.args(values)).fetchall()
        return rows

    async def script(self, statements: list[str]) -> None:
        for statement in statements:
            self._db.execute(statement)


def parse_sqlite_url(url: str) -> tuple[str, dict[str, str]]:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db``, ``sqlite:///:memory:``."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        raise PersistenceError(f"not a SQLite URL: '{url}'")
    if parts.netloc:
        raise PersistenceError(
            f"SQLite URL '{url}' has a host part; write sqlite:///{parts.netloc}{parts.path} "
            "for a relative path or sqlite:////absolute/path"
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    return path or ":memory:", dict(parse_qsl(parts.query))


class _Transaction:
    """``async with`` one transaction (``begin``) or autocommit statements on the connection.

    A small class rather than ``@asynccontextmanager``: it runs for every commit.
    """

    __slots__ = ("_begin", "_store")

    def __init__(self, store: SQLitePersistenceProvider, begin: bool) -> None:
        self._store = store
        self._begin = begin

    async def __aenter__(self) -> Connection:
        store = self._store
        db = store._db
        assert db is not None
        try:
            if store._abandoned:  # a failed ROLLBACK left it open: never read or build on it
                if db.in_transaction:
                    db.execute("ROLLBACK")
                store._abandoned = False
            if self._begin:
                db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise store._error(exc) from exc
        return store._conn

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> None:
        store = self._store
        db = store._db
        assert db is not None
        if exc is None:
            if self._begin:
                try:
                    db.execute("COMMIT")
                except sqlite3.Error as error:
                    _rollback(store, db, error)
                    raise store._error(error) from error
            return
        if self._begin:
            _rollback(store, db, exc)
        if isinstance(exc, sqlite3.Error):
            raise store._error(exc) from exc


def _rollback(store: SQLitePersistenceProvider, db: sqlite3.Connection, cause: object) -> None:
    """Undo what is left of a failed transaction without hiding why it failed.

    On SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM (and a BUSY commit) SQLite may already have
    rolled the transaction back itself; a ROLLBACK then fails with "cannot rollback - no
    transaction is active", which must not replace the disk-full error the caller needs to see.
    A ROLLBACK that fails for another reason is logged, and the next use of the connection
    rolls back first.
    """
    if not db.in_transaction:
        return
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        store._abandoned = True
        log.warning("%s: rollback after '%s' failed: %s", store.where, cause, exc)


class SQLitePersistenceProvider(SQLStore):
    """Workflows in one SQLite file (WAL). Several processes may share the file."""

    dialect = SQLITE
    _flag = staticmethod(int)

    def __init__(
        self,
        path: str | Path = "ruvon.db",
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 10.0,
    ) -> None:
        options: dict[str, str] = {}
        if isinstance(path, str) and path.startswith("sqlite:"):
            path, options = parse_sqlite_url(path)
        self.path = str(path)
        self.synchronous = options.get("synchronous", synchronous).upper()
        if self.synchronous not in SYNCHRONOUS:
            raise PersistenceError(
                f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not '{self.synchronous}'"
            )
        self.busy_timeout = float(options.get("busy_timeout", busy_timeout))
        self._db: sqlite3.Connection | None = None
        self._abandoned = False  # a failed transaction whose ROLLBACK failed is still open
        self._local = threading.local()  # the lease keeper thread's own connection
        super().__init__()

    @property
    def where(self) -> str:
        return f"SQLite database '{self.path}'"

    def _error(self, exc: sqlite3.Error) -> PersistenceError:
        text = str(exc)
        if getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL or "disk is full" in text:
            return PersistenceError(
                f"{self.where} is full (no space left on its disk, or max_page_count "
                f"reached): {text}"
            )
        if "readonly" in text or "read-only" in text:
            return PersistenceError(f"{self.where} is not writable: {text}")
        if "unable to open" in text:
            return PersistenceError(f"{self.where} can not be opened: {text}")
        return PersistenceError(f"{self.where}: {text}")

    async def _open(self) -> None:
        # SQLite can answer "database is locked" at once, without waiting in its busy handler,
        # when the file is opened while another process's last connection closes (it then
        # checkpoints and removes the WAL under an exclusive lock): opening is retried, with a
        # growing pause, until ``busy_timeout`` has passed.
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.005
        while True:
            try:
                db = self._connect()
                break
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() + pause > deadline:
                    raise self._error(exc) from exc
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
        self._db = db
        self._conn = _Conn(db)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout
        )
        try:
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(f"PRAGMA synchronous = {self.synchronous}")
            db.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            db.close()
            raise
        return db

    async def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _transaction(self) -> _Transaction:
        return _Transaction(self, begin=True)

    def _autocommit(self) -> _Transaction:
        return _Transaction(self, begin=False)

    def _renew_detached(self, rows: list[dict[str, Any]]) -> set[str]:
        if self.path == ":memory:":  # one connection only: nothing else can take the lease
            return {r["id"] for r in rows}
        query = self._q["renew_lease"]
        try:
            db = getattr(self._local, "db", None)
            if db is None:
                db = sqlite3.connect(self.path, isolation_level=None)
                db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
                self._local.db = db
            return {r["id"] for r in rows if db.execute(query.sql, query.args(r)).rowcount}
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    async def _has_schema(self, conn: Connection) -> bool:
        assert self._db is not None
        row = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ruvon_schema'"
        ).fetchone()
        return row is not None
