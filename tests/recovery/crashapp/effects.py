"""The side-effect counter: a separate SQLite file that survives SIGKILL.

Every side effect of a step or compensation is one autocommitted ``INSERT`` (so it is durable
the moment the function goes on), keyed by workflow id, function name and the
``idempotency_key`` the engine gave the call. A checkpoint kill writes a row to ``kills`` just
before the ``SIGKILL``. With ``CRASHAPP_LOG_COMMITS=1``, every transition that settles a
step or a compensation as ``COMPLETED`` adds a row to ``commits``: ``sure`` once the store's
commit returned, or *in doubt* when a checkpoint killed the process while the commit was in
flight (another task of a recovery process can hit a checkpoint after the database committed
and before the committing task resumed). The row carries the record's ``ended_at``, which
tells, against the store, whether a commit in doubt went through. The file is named by
``CRASHAPP_EFFECTS``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

ENV_PATH = "CRASHAPP_EFFECTS"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS effects (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        workflow_id TEXT NOT NULL,
        function TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        pid INTEGER NOT NULL,
        at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS kills (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        checkpoint TEXT NOT NULL,
        workflow_id TEXT,
        pid INTEGER NOT NULL,
        at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS commits (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        workflow_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        ended_at REAL NOT NULL,
        sure INTEGER NOT NULL,
        pid INTEGER NOT NULL,
        at REAL NOT NULL
    )""",
)

_conn: sqlite3.Connection | None = None
_conn_path: str | None = None


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """An autocommit connection to the counter file (tables created if missing)."""
    db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
    db.execute("PRAGMA busy_timeout = 30000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")  # a process kill loses nothing committed
    for statement in _SCHEMA:
        db.execute(statement)
    return db


def _db() -> sqlite3.Connection:
    global _conn, _conn_path
    path = os.environ.get(ENV_PATH)
    if not path:
        raise RuntimeError(f"{ENV_PATH} is not set: where should side effects be recorded?")
    if _conn is None or _conn_path != path:
        _conn, _conn_path = connect(path), path
    return _conn


def record(workflow_id: str, function: str, idempotency_key: str, attempt: int) -> None:
    """One side effect, committed before this returns."""
    _db().execute(
        "INSERT INTO effects (workflow_id, function, idempotency_key, attempt, pid, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (workflow_id, function, idempotency_key, attempt, os.getpid(), time.time()),
    )


def record_kill(checkpoint: str, workflow_id: str | None) -> None:
    _db().execute(
        "INSERT INTO kills (checkpoint, workflow_id, pid, at) VALUES (?, ?, ?, ?)",
        (checkpoint, workflow_id, os.getpid(), time.time()),
    )


def record_commits(
    workflow_id: str, completed: list[tuple[str, str, float]], *, sure: bool
) -> None:
    """The steps and compensations one transition settled as ``COMPLETED``: ``(kind, name,
    ended_at)``, kind ``step`` (name: the step) or ``compensation`` (the function's name);
    ``sure`` unless the process dies with the commit in flight."""
    db, now, pid = _db(), time.time(), os.getpid()
    for kind, name, ended_at in completed:
        db.execute(
            "INSERT INTO commits (workflow_id, kind, name, ended_at, sure, pid, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (workflow_id, kind, name, ended_at, int(sure), pid, now),
        )


@dataclass(frozen=True)
class Effect:
    id: int
    workflow_id: str
    function: str
    idempotency_key: str
    attempt: int
    pid: int


@dataclass(frozen=True)
class Kill:
    checkpoint: str
    workflow_id: str | None
    pid: int


def read(path: str | os.PathLike[str]) -> tuple[list[Effect], list[Kill]]:
    """Every recorded effect (in the order they happened) and every kill."""
    if not Path(path).exists():
        return [], []
    db = connect(path)
    try:
        effects = [
            Effect(*row)
            for row in db.execute(
                "SELECT id, workflow_id, function, idempotency_key, attempt, pid "
                "FROM effects ORDER BY id"
            )
        ]
        kills = [
            Kill(*row)
            for row in db.execute("SELECT checkpoint, workflow_id, pid FROM kills ORDER BY id")
        ]
    finally:
        db.close()
    return effects, kills


@dataclass(frozen=True)
class Commit:
    id: int
    workflow_id: str
    kind: str  # "step" or "compensation"
    name: str  # the step's name, or the compensation function's short name
    ended_at: float  # of the step attempt or journal entry committed (-1: none)
    sure: bool  # False: the process died with this commit in flight
    pid: int


@dataclass(frozen=True)
class KillAt:
    """A kill with its time (``Kill`` stays as the checks of the older tests use it)."""

    checkpoint: str
    workflow_id: str | None
    pid: int
    at: float


def read_log(path: str | os.PathLike[str]) -> tuple[list[Commit], list[KillAt]]:
    """Every logged completion commit (in commit order) and every kill with its time."""
    if not Path(path).exists():
        return [], []
    db = connect(path)
    try:
        commits = [
            Commit(i, w, k, n, t, bool(sure), pid)
            for i, w, k, n, t, sure, pid in db.execute(
                "SELECT id, workflow_id, kind, name, ended_at, sure, pid FROM commits ORDER BY id"
            )
        ]
        kills = [
            KillAt(*row)
            for row in db.execute("SELECT checkpoint, workflow_id, pid, at FROM kills ORDER BY id")
        ]
    finally:
        db.close()
    return commits, kills
