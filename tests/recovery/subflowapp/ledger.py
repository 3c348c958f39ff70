"""The ledger of subflowapp's side effects, and the checkpoints where a process kills itself.

The ledger is a SQLite file (``SUBFLOW_LEDGER``) written with autocommit: a row is durable the
moment the function goes on, so a SIGKILL right after it loses nothing. ``effects`` has one row
per side effect (workflow id and type, function, ``idempotency_key``, attempt, a note such as
the person's name, pid); ``kills`` one row per checkpoint kill, written just before it.

``SUBFLOW_KILL_AT`` names the checkpoint, ``SUBFLOW_KILL_HIT`` (default 1) which of its hits in
this process fires. Checkpoints:

``fn:<function>:before`` / ``fn:<function>:after``
    inside a step or compensation function, before or after its side effect;
``created:<workflow type>``
    right after the store created a new workflow of that type (before anything else of it,
    or of its parent, is committed): needs :func:`subflowapp.program.watch`;
``commit:<workflow type>:<status>``
    right after a commit moved a workflow of that type to (or kept it in) that status.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from dataclasses import dataclass
from pathlib import Path

ENV_LEDGER = "SUBFLOW_LEDGER"
ENV_AT = "SUBFLOW_KILL_AT"
ENV_HIT = "SUBFLOW_KILL_HIT"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS effects (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        workflow_id TEXT NOT NULL,
        workflow_type TEXT NOT NULL,
        function TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        note TEXT,
        pid INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS kills (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        checkpoint TEXT NOT NULL,
        workflow_id TEXT,
        pid INTEGER NOT NULL
    )""",
)

_conn: sqlite3.Connection | None = None
_hits = 0


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
    db.execute("PRAGMA busy_timeout = 30000")
    db.execute("PRAGMA journal_mode = WAL")
    for statement in _SCHEMA:
        db.execute(statement)
    return db


def _db() -> sqlite3.Connection:
    global _conn
    if _conn is None:
        path = os.environ.get(ENV_LEDGER)
        if not path:
            raise RuntimeError(f"{ENV_LEDGER} is not set: where should side effects go?")
        _conn = connect(path)
    return _conn


def record(
    workflow_id: str,
    workflow_type: str,
    function: str,
    idempotency_key: str,
    attempt: int,
    note: str | None = None,
) -> None:
    """One side effect, committed before this returns."""
    _db().execute(
        "INSERT INTO effects (workflow_id, workflow_type, function, idempotency_key, attempt, "
        "note, pid) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (workflow_id, workflow_type, function, idempotency_key, attempt, note, os.getpid()),
    )


def checkpoint(name: str, workflow_id: str | None) -> None:
    """SIGKILL this process if ``name`` is the configured checkpoint and this is the hit."""
    global _hits
    if name != os.environ.get(ENV_AT):
        return
    _hits += 1
    if _hits == int(os.environ.get(ENV_HIT, "1")):
        _db().execute(
            "INSERT INTO kills (checkpoint, workflow_id, pid) VALUES (?, ?, ?)",
            (name, workflow_id, os.getpid()),
        )
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True, kw_only=True)
class Effect:
    id: int
    workflow_id: str
    workflow_type: str
    function: str
    idempotency_key: str
    attempt: int
    note: str | None
    pid: int


@dataclass(frozen=True, kw_only=True)
class Kill:
    checkpoint: str
    workflow_id: str | None
    pid: int


def read(path: str | os.PathLike[str]) -> tuple[list[Effect], list[Kill]]:
    """Every side effect, in the order they happened, and every kill."""
    if not Path(path).exists():
        return [], []
    db = connect(path)
    try:
        effects = [
            Effect(
                id=i,
                workflow_id=w,
                workflow_type=t,
                function=f,
                idempotency_key=k,
                attempt=a,
                note=n,
                pid=p,
            )
            for i, w, t, f, k, a, n, p in db.execute(
                "SELECT id, workflow_id, workflow_type, function, idempotency_key, attempt, note, "
                "pid FROM effects ORDER BY id"
            )
        ]
        kills = [
            Kill(checkpoint=c, workflow_id=w, pid=p)
            for c, w, p in db.execute("SELECT checkpoint, workflow_id, pid FROM kills ORDER BY id")
        ]
    finally:
        db.close()
    return effects, kills
