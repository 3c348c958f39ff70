"""``SQLitePersistenceProvider``: the embedded default store, one file in WAL mode.

Durability: ``synchronous=FULL`` by default, so a committed transition survives a power cut,
not only a crash of the process. ``synchronous=NORMAL`` (WAL) keeps every commit across a
process crash (SIGKILL included) but may lose the last commits on power loss or an OS crash;
it is several times faster and can be chosen with ``?synchronous=NORMAL`` in the URL.

SQLite calls are made directly on the event loop's thread: they take microseconds (plus the
fsync of a commit), and a single connection keeps each transaction atomic with respect to other
coroutines because no transaction awaits anything in between its statements.

The constructor also takes the keywords of the original Ruvon documentation (``db_path``,
``timeout``, ``check_same_thread``, ``auto_init``), and ``conn`` gives programs written for it
the store's connection the aiosqlite way (see :mod:`.sqlite_conn`).
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
from ruvon.implementations.persistence.sqlite_conn import AsyncConnection

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
DEFAULT_PATH = "ruvon.db"
DEFAULT_BUSY_TIMEOUT = 10.0
MEMORY = ":memory:"
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


def _one_of(what: str, ours: Any, theirs: Any, names: tuple[str, str]) -> Any:
    """The value given under either of two names for the same option, refusing two values."""
    if ours is not None and theirs is not None and ours != theirs:
        raise TypeError(f"{what}: give {names[0]} or {names[1]}, not both")
    return ours if ours is not None else theirs


class SQLitePersistenceProvider(SQLStore):
    """Workflows in one SQLite file (WAL). Several processes may share the file.

    ``path`` (or ``db_path``): a file, ``":memory:"`` (one connection, gone when the store is
    closed), or a ``sqlite:///`` URL whose ``?synchronous=`` and ``?busy_timeout=`` set the
    options below. ``busy_timeout`` (or ``timeout``): seconds to wait for another process's lock.
    ``check_same_thread`` is passed to :func:`sqlite3.connect`. With ``auto_init=False`` the
    schema is not created or migrated: :meth:`initialize` then requires an up-to-date schema
    (``ruvon db migrate`` makes one).
    """

    dialect = SQLITE
    _flag = staticmethod(int)

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        db_path: str | Path | None = None,
        synchronous: str = "FULL",
        busy_timeout: float | None = None,
        timeout: float | None = None,
        check_same_thread: bool = False,
        auto_init: bool = True,
    ) -> None:
        where = "SQLitePersistenceProvider"
        path = _one_of(where, path, db_path, ("path", "db_path"))
        if path is None:
            path = DEFAULT_PATH
        seconds = _one_of(where, busy_timeout, timeout, ("busy_timeout", "timeout"))
        options: dict[str, str] = {}
        if isinstance(path, str) and path.startswith("sqlite:"):
            path, options = parse_sqlite_url(path)
        self.path = str(path)
        self.synchronous = options.get("synchronous", synchronous).upper()
        if self.synchronous not in SYNCHRONOUS:
            raise PersistenceError(
                f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not '{self.synchronous}'"
            )
        default = DEFAULT_BUSY_TIMEOUT if seconds is None else seconds
        self.busy_timeout = float(options.get("busy_timeout", default))
        if self.path == MEMORY and not auto_init:
            raise PersistenceError(
                "auto_init=False needs a database that already has the schema; a ':memory:' "
                "database always starts empty"
            )
        self.check_same_thread = check_same_thread
        self.auto_init = auto_init
        self._db: sqlite3.Connection | None = None
        self._abandoned = False  # a failed transaction whose ROLLBACK failed is still open
        self._local = threading.local()  # the lease keeper thread's own connection
        self._emptied = False  # a ":memory:" database was closed: reopening starts empty
        super().__init__()

    # --- the connection, for programs that run their own SQL on the store's file ------------

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's live ``sqlite3.Connection``, after :meth:`initialize`.

        Autocommit mode; rows are ``sqlite3.Row``. Do not close it (close the store) and do not
        leave a transaction open on it: the store's next write would fail.
        """
        if self._db is None:
            raise PersistenceError(f"{self.where} is not open: await initialize() first")
        return self._db

    @property
    def conn(self) -> AsyncConnection:
        """The store's connection used as the original Ruvon tutorials do, the aiosqlite way:
        ``await persistence.conn.execute(sql, params)``, ``await ....executescript(script)``."""
        return AsyncConnection(lambda: self.connection)

    # --- lifecycle --------------------------------------------------------------------------

    async def initialize(self) -> None:
        """Open the connection; create or migrate the schema unless ``auto_init=False``.

        Calling it again does nothing; after :meth:`close` it opens the file again. A
        ``":memory:"`` database lives only as long as its connection: reopened, it is empty.
        """
        if self._ready:
            return
        if self._emptied:
            log.warning(
                "%s was closed and is opened again: it is a new, empty database (workflows "
                "stored before close() are gone)",
                self.where,
            )
            self._emptied = False
            self._known_definitions.clear()  # the definition rows went with the old database
        await super().initialize()

    async def _attach(self) -> None:
        await super()._attach()
        # the schema is Ruvon's: WAL mode, as the store sets when it creates it (switching the
        # journal mode writes to the file, so a file that was refused is left as it was)
        assert self._db is not None
        try:
            self._db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            await self.close()
            raise self._error(exc) from exc

    @property
    def _url_hint(self) -> str:
        return "sqlite:///<file>"

    async def close(self) -> None:
        """Close the connection (again: nothing happens). The store may be initialized again."""
        if self._opened and self.path == MEMORY:
            self._emptied = True
        await super().close()

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
            self.path,
            isolation_level=None,
            check_same_thread=self.check_same_thread,
            timeout=self.busy_timeout,
        )
        try:
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if self.auto_init:  # else once the schema is found to be Ruvon's (see _attach)
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
        if self.path == MEMORY:  # one connection only: nothing else can take the lease
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
