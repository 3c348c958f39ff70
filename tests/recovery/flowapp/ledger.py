"""The side-effect ledger of flowapp: one autocommitted row per effect, in the counter file of
:mod:`crashapp.effects` (``CRASHAPP_EFFECTS``, whose ``kills`` table the checkpoints fill).

Each row keeps what the engine told the call: the ``idempotency_key``, the attempt, and the
``loop_item``/``loop_index`` of the iteration it ran for (a compensation gets its forward step's
back), so a test can tell which iteration ran, how often, and for which item.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashapp import effects

_SCHEMA = """CREATE TABLE IF NOT EXISTS flow_effects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id TEXT NOT NULL,
    function TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    item TEXT NOT NULL,
    loop_index INTEGER,
    pid INTEGER NOT NULL
)"""

_conn: sqlite3.Connection | None = None


def _db() -> sqlite3.Connection:
    global _conn
    if _conn is None:
        path = os.environ.get(effects.ENV_PATH)
        if not path:
            raise RuntimeError(f"{effects.ENV_PATH} is not set: where should effects go?")
        _conn = effects.connect(path)
        _conn.execute(_SCHEMA)
    return _conn


def record(
    workflow_id: str,
    function: str,
    idempotency_key: str,
    attempt: int,
    item: Any,
    index: int | None,
) -> None:
    """One side effect, committed before this returns."""
    _db().execute(
        "INSERT INTO flow_effects (workflow_id, function, idempotency_key, attempt, item, "
        "loop_index, pid) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (workflow_id, function, idempotency_key, attempt, json.dumps(item), index, os.getpid()),
    )


@dataclass(frozen=True, kw_only=True)
class Row:
    id: int
    workflow_id: str
    function: str
    idempotency_key: str
    attempt: int
    item: Any
    index: int | None
    pid: int


def read(path: str | os.PathLike[str]) -> list[Row]:
    """Every effect, in the order they happened."""
    if not Path(path).exists():
        return []
    db = effects.connect(path)
    try:
        db.execute(_SCHEMA)
        rows = db.execute(
            "SELECT id, workflow_id, function, idempotency_key, attempt, item, loop_index, pid "
            "FROM flow_effects ORDER BY id"
        )
        return [
            Row(
                id=i,
                workflow_id=w,
                function=f,
                idempotency_key=k,
                attempt=a,
                item=json.loads(item),
                index=index,
                pid=pid,
            )
            for i, w, f, k, a, item, index, pid in rows
        ]
    finally:
        db.close()
