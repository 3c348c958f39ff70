"""``SQLStore``: the persistence contract over SQL, shared by the SQLite and Postgres stores.

Every query lives in ``queries.sql`` (one copy, both dialects); a subclass only opens
connections, runs transactions and says how to spot an existing schema. Each workflow
transition is one transaction: the CAS update of the execution row, the step attempts, the
compensation-journal entries, the audit row and the metrics.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from ruvon.errors import (
    ConcurrentModificationError,
    PersistenceError,
    SchemaVersionError,
    WorkflowNotFoundError,
)
from ruvon.implementations.persistence.sql import queries as sqlq
from ruvon.implementations.persistence.sql import rows
from ruvon.implementations.persistence.sql.rows import Row as Row
from ruvon.implementations.persistence.sql.schedules import ScheduleQueries
from ruvon.models import (
    CompensationRecord,
    StepRecord,
)
from ruvon.providers.persistence import (
    RECOVERY_FAILED,
    Transition,
    WorkflowRecord,
    snapshot_digest,
)
from ruvon.status import WorkflowStatus


class Connection(Protocol):
    """What the base class needs from a connection (inside or outside a transaction)."""

    async def execute(self, query: sqlq.Query, values: dict[str, Any]) -> int: ...

    async def executemany(self, query: sqlq.Query, rows: list[dict[str, Any]]) -> None: ...

    async def fetchone(self, query: sqlq.Query, values: dict[str, Any]) -> Row | None: ...

    async def fetchall(self, query: sqlq.Query, values: dict[str, Any]) -> list[Row]: ...

    async def script(self, statements: list[str]) -> None: ...


class SQLStore(ScheduleQueries, ABC):
    """Base of the SQL persistence providers. Initializes (and migrates) on first use.

    ``auto_init = False`` leaves the schema alone: :meth:`initialize` then only opens the
    connection(s) and requires a schema that is up to date (``ruvon db migrate`` makes one).
    """

    dialect: sqlq.Dialect
    auto_init = True
    # how a boolean column value is passed to the driver (SQLite's driver adapts a ``bool``
    # through its slow adapter lookup; an ``int`` binds directly)
    _flag: staticmethod[[bool], object] = staticmethod(bool)

    def __init__(self) -> None:
        self._ready = False
        self._opened = False
        self._q = sqlq.queries(self.dialect)
        self._digests: dict[int, tuple[object, str]] = {}
        self._known_definitions: set[str] = set()
        self.commits = 0

    # --- dialect hooks ----------------------------------------------------------------------

    @property
    @abstractmethod
    def where(self) -> str:
        """The database named in error messages (file path or URL without password)."""

    @abstractmethod
    async def _open(self) -> None:
        """Open the connection(s); raise PersistenceError naming :attr:`where` on failure."""

    @abstractmethod
    async def _close(self) -> None: ...

    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A connection inside one transaction: committed on exit, rolled back on error."""

    @abstractmethod
    def _autocommit(self) -> AbstractAsyncContextManager[Connection]:
        """A connection outside an explicit transaction: for reads, and for a write that is
        one statement (atomic on its own, committed when it returns)."""

    @abstractmethod
    async def _has_schema(self, conn: Connection) -> bool:
        """Whether the ``ruvon_schema`` table exists."""

    async def _lock_migrations(self, conn: Connection) -> None:
        """Serialize concurrent migrations (inside the migration transaction)."""
        return None  # SQLite: BEGIN IMMEDIATE already serializes writers

    # --- lifecycle --------------------------------------------------------------------------

    async def initialize(self) -> None:
        if self._ready:
            return
        if not self.auto_init:
            await self._attach()
            return
        try:
            await self.migrate()
        except BaseException:
            if self._opened:
                await self._close()
                self._opened = False
            raise
        self._ready = True

    async def _attach(self) -> None:
        """Open the connection(s) without touching the schema, which must be up to date."""
        if not self._opened:
            await self._open()
            self._opened = True
        try:
            found = await self._schema_version()
            latest = sqlq.latest_version()
            if found != latest:
                raise SchemaVersionError(
                    f"{self.where} "
                    + ("has no Ruvon schema" if found == 0 else f"has schema version {found}")
                    + f"; this version of Ruvon needs {latest}. auto_init=False leaves the "
                    f"schema alone: run 'ruvon db migrate --db {self._url_hint}' or pass "
                    "auto_init=True",
                    found=found,
                    needed=latest,
                )
        except BaseException:
            await self.close()
            raise
        self._ready = True

    @property
    def _url_hint(self) -> str:
        """How ``--db`` names this database in a hint."""
        return "URL"

    async def _schema_version(self) -> int:
        """The version of the schema in the database; 0 when it has none."""
        async with self._autocommit() as conn:
            if not await self._has_schema(conn):
                return 0
            row = await conn.fetchone(self._q["schema_version"], {})
        return int(row["version"]) if row else 0

    async def close(self) -> None:
        if self._opened:
            await self._close()
        self._ready = self._opened = False

    async def migrate(self, *, replay: bool = False) -> int:
        """Bring the schema to the latest version; return it.

        A fresh database gets ``schema.sql`` (or, with ``replay``, every migration in order).
        A schema newer than this code is an error.
        """
        latest = sqlq.latest_version()
        if not self._opened:
            await self._open()
            self._opened = True
        async with self._transaction() as conn:
            await self._lock_migrations(conn)
            current = 0
            if await self._has_schema(conn):
                row = await conn.fetchone(self._q["schema_version"], {})
                current = int(row["version"]) if row else 0
            if current > latest:
                raise PersistenceError(
                    f"{self.where}: database schema version {current} is newer than this "
                    f"version of Ruvon understands ({latest}); upgrade Ruvon"
                )
            if current == 0 and not replay:
                await conn.script(sqlq.statements(sqlq.schema(self.dialect)))
                return latest
            for version, script in sqlq.migrations().items():
                if version > current:
                    await conn.script(sqlq.statements(self.dialect.ddl(script)))
        return latest

    async def _ensure(self) -> None:
        if not self._ready:
            await self.initialize()

    # --- writes -----------------------------------------------------------------------------

    def _digest(self, snapshot: dict[str, Any]) -> str:
        cached = self._digests.get(id(snapshot))
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        digest = snapshot_digest(snapshot)
        self._digests[id(snapshot)] = (snapshot, digest)
        return digest

    async def create_workflow(self, record: WorkflowRecord) -> WorkflowRecord:
        await self._ensure()
        digest = self._digest(record.definition)
        if digest not in self._known_definitions:
            async with self._autocommit() as conn:  # a single statement: atomic on its own
                await conn.execute(
                    self._q["insert_definition"],
                    {
                        "digest": digest,
                        "workflow_type": record.workflow_type,
                        "workflow_version": record.workflow_version,
                        "snapshot": rows.dump(record.definition),
                        "created_at": record.created_at,
                    },
                )
            self._known_definitions.add(digest)
        values = {
            "id": record.id,
            "workflow_type": record.workflow_type,
            "workflow_version": record.workflow_version,
            "definition_digest": digest,
            "status": record.status.value,
            "state": rows.text(record.state),
            "current_step": record.current_step,
            "saga_mode": self._flag(record.saga_mode),
            "idempotency_key": record.idempotency_key,
            "parent_id": record.parent_id,
            "owner_id": record.owner_id,
            "metadata": rows.dump(record.metadata),
            "error": rows.dump(record.error.to_dict()) if record.error else None,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "version": record.version,
            "lease_owner": record.lease_owner,
            "lease_expires_at": record.lease_expires_at,
            "frames": rows.dump(record.frames),
        }
        if not await self._insert_workflow(values):
            async with self._autocommit() as conn:
                row = await conn.fetchone(
                    self._q["select_workflow_by_key"], {"idempotency_key": record.idempotency_key}
                )
            if row is None:  # pragma: no cover - the conflicting row vanished
                raise PersistenceError(f"{self.where}: idempotency conflict without a row")
            return self._record(row)
        self.commits += 1
        return record

    async def _insert_workflow(self, values: dict[str, Any]) -> bool:
        """Insert the row and its 'created' audit entry atomically; ``False`` if the
        idempotency key exists. Dialect hook: this is the version for local transactions."""
        async with self._transaction() as conn:
            if not await conn.execute(self._q["insert_workflow"], values):
                return False
            await conn.execute(
                self._q["insert_audit"],
                {
                    "workflow_id": values["id"],
                    "at": values["created_at"],
                    "from_status": None,
                    "to_status": values["status"],
                    "reason": "created",
                },
            )
        return True

    async def commit(self, transition: Transition) -> str | None:
        await self._ensure()
        t = transition
        values = {
            "id": t.workflow_id,
            "expected_version": t.expected_version,
            "runner_id": t.runner_id,
            "status": t.status.value,
            "state": rows.text(t.state),
            "current_step": t.current_step,
            "frames": rows.dump(t.frames),
            "saga_mode": self._flag(t.saga_mode),
            "error": rows.dump(t.error.to_dict()) if t.error else None,
            "updated_at": t.updated_at,
            "lease_owner": t.lease_owner,
            "lease_expires_at": t.lease_expires_at,
        }
        moved = await self._apply_transition(t, values)
        if moved is None:
            async with self._autocommit() as conn:
                await self._conflict(conn, t.workflow_id, t.expected_version)
        self.commits += 1
        return moved[0] if moved else None

    async def request_cancel(self, workflow_id: str, reason: str) -> bool:
        await self._ensure()
        async with self._autocommit() as conn:  # one UPDATE: atomic on its own
            done = await conn.execute(
                self._q["request_cancel"], {"id": workflow_id, "reason": reason}
            )
            if not done and not await conn.fetchone(
                self._q["workflow_exists"], {"id": workflow_id}
            ):
                raise WorkflowNotFoundError(workflow_id)
        return bool(done)

    async def _apply_transition(
        self, t: Transition, values: dict[str, Any]
    ) -> tuple[str | None] | None:
        """Write one transition atomically; ``None`` if the version or lease check failed (then
        nothing is written), else ``(cancel_requested,)``. Dialect hook: this is the version
        for local transactions."""
        q = self._q
        same = t.status is t.previous_status
        async with self._transaction() as conn:
            cancel = None
            if not await conn.execute(
                q["update_workflow_keep_status" if same else "update_workflow"], values
            ):  # a cancellation is requested, or the version or lease check failed
                # all rows fetched: SQLite must finish the RETURNING statement before COMMIT
                moved = await conn.fetchall(q["update_workflow_cancel_requested"], values)
                if not moved:
                    return None
                cancel = moved[0]["cancel_requested"]
            if t.steps:
                await conn.executemany(
                    q["upsert_step_attempt"], [self._step_values(t.workflow_id, s) for s in t.steps]
                )
            if t.compensations:
                await conn.executemany(
                    q["upsert_compensation"],
                    [self._comp_values(t.workflow_id, c) for c in t.compensations],
                )
            if not same:
                await conn.execute(
                    q["insert_audit"],
                    {
                        "workflow_id": t.workflow_id,
                        "at": t.updated_at,
                        "from_status": t.previous_status.value,
                        "to_status": t.status.value,
                        "reason": t.reason,
                    },
                )
            if t.metrics:
                await conn.executemany(
                    q["insert_metric"],
                    [
                        {"workflow_id": t.workflow_id, "at": t.updated_at, "name": n, "value": v}
                        for n, v in t.metrics
                    ],
                )
        return (cancel,)

    async def _conflict(self, conn: Connection, workflow_id: str, expected: int) -> None:
        row = await conn.fetchone(self._q["select_version"], {"id": workflow_id})
        if row is None:
            raise WorkflowNotFoundError(workflow_id)
        raise ConcurrentModificationError(
            workflow_id, expected, int(row["version"]), row["lease_owner"]
        )

    async def claim(
        self, workflow_id: str, expected_version: int, owner: str, expires_at: float, now: float
    ) -> None:
        await self._ensure()
        async with self._autocommit() as conn:  # one UPDATE: atomic on its own
            claimed = await conn.execute(
                self._q["claim_workflow"],
                {
                    "id": workflow_id,
                    "expected_version": expected_version,
                    "owner": owner,
                    "expires_at": expires_at,
                    "now": now,
                },
            )
            if not claimed:
                await self._conflict(conn, workflow_id, expected_version)
        self.commits += 1

    async def renew_lease(self, workflow_id: str, owner: str, expires_at: float) -> bool:
        await self._ensure()
        async with self._autocommit() as conn:
            return bool(
                await conn.execute(
                    self._q["renew_lease"],
                    {"id": workflow_id, "owner": owner, "expires_at": expires_at},
                )
            )

    def renew_leases_blocking(self, leases: list[tuple[str, str, float]]) -> set[str]:
        rows = [{"id": wid, "owner": owner, "expires_at": exp} for wid, owner, exp in leases]
        return self._renew_detached(rows) if rows else set()

    @abstractmethod
    def _renew_detached(self, rows: list[dict[str, Any]]) -> set[str]:
        """Run ``renew_lease`` for each row on a connection of the calling thread's own."""

    async def log_execution(
        self,
        workflow_id: str,
        log_level: str,
        message: str,
        step_name: str | None = None,
        **extra: Any,
    ) -> None:
        await self._ensure()
        async with self._transaction() as conn:
            if not await conn.fetchone(self._q["workflow_exists"], {"id": workflow_id}):
                raise WorkflowNotFoundError(workflow_id)
            await conn.execute(
                self._q["insert_log"],
                {
                    "workflow_id": workflow_id,
                    "at": time.time(),
                    "log_level": log_level.upper(),
                    "message": message,
                    "step_name": step_name,
                    "extra": rows.dump(extra or None),
                },
            )

    # --- reads ------------------------------------------------------------------------------

    async def load_workflow(self, workflow_id: str) -> WorkflowRecord:
        await self._ensure()
        async with self._autocommit() as conn:
            row = await conn.fetchone(self._q["select_workflow"], {"id": workflow_id})
        if row is None:
            raise WorkflowNotFoundError(workflow_id)
        return self._record(row)

    async def list_workflows(
        self,
        *,
        status: WorkflowStatus | None = None,
        workflow_type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[WorkflowRecord]:
        await self._ensure()
        values = {
            "status": status.value if status else None,
            "workflow_type": workflow_type,
            "limit": limit,
            "offset": offset,
        }
        async with self._autocommit() as conn:
            rows = await conn.fetchall(self._q["list_workflows"], values)
        return [self._record(r) for r in rows]

    async def count_workflows(
        self, *, workflow_type: str | None = None
    ) -> dict[WorkflowStatus, int]:
        await self._ensure()
        async with self._autocommit() as conn:
            rows = await conn.fetchall(self._q["count_workflows"], {"workflow_type": workflow_type})
        return {WorkflowStatus(r["status"]): int(r["n"]) for r in rows}

    async def find_recoverable(self, now: float, limit: int = 100) -> list[str]:
        await self._ensure()
        async with self._autocommit() as conn:
            rows = await conn.fetchall(self._q["find_recoverable"], {"now": now, "limit": limit})
        return [r["id"] for r in rows]

    async def claim_for_recovery(
        self, workflow_id: str, owner: str, expires_at: float, now: float, *, failed: bool = False
    ) -> bool:
        await self._ensure()
        values = {
            "id": workflow_id,
            "owner": owner,
            "expires_at": expires_at,
            "now": now,
            "marker": RECOVERY_FAILED,
        }
        query = self._q["claim_recovery_failed" if failed else "claim_for_recovery"]
        async with self._autocommit() as conn:  # one UPDATE: atomic on its own
            claimed = bool(await conn.execute(query, values))
        if claimed:
            self.commits += 1
        return claimed

    async def mark_recovery_failed(self, workflow_id: str, owner: str) -> bool:
        await self._ensure()
        values = {"id": workflow_id, "owner": owner, "marker": RECOVERY_FAILED}
        async with self._autocommit() as conn:
            marked = bool(await conn.execute(self._q["mark_recovery_failed"], values))
        if marked:
            self.commits += 1
        return marked

    async def find_recovery_failed(self, limit: int = 100) -> list[str]:
        await self._ensure()
        values = {"marker": RECOVERY_FAILED, "limit": limit}
        async with self._autocommit() as conn:
            rows = await conn.fetchall(self._q["find_recovery_failed"], values)
        return [r["id"] for r in rows]

    async def _rows(self, name: str, workflow_id: str) -> list[Row]:
        await self._ensure()
        async with self._autocommit() as conn:
            rows = await conn.fetchall(self._q[name], {"workflow_id": workflow_id})
            if not rows and not await conn.fetchone(
                self._q["workflow_exists"], {"id": workflow_id}
            ):
                raise WorkflowNotFoundError(workflow_id)
        return rows

    async def step_history(self, workflow_id: str) -> list[StepRecord]:
        found = await self._rows("select_step_attempts", workflow_id)
        return rows.step_records(found, self.where, workflow_id)

    async def step_states(self, workflow_id: str) -> dict[int, bytes | str]:
        found = await self._rows("select_step_states", workflow_id)
        states: dict[int, bytes | str] = {}
        for r in found:
            value = r["state_after"]  # JSON text, or parsed already by a driver's codec
            states[int(r["seq"])] = (
                value if isinstance(value, str | bytes) else rows.dump(value) or ""
            )
        return states

    async def compensation_journal(self, workflow_id: str) -> list[CompensationRecord]:
        found = await self._rows("select_compensations", workflow_id)
        return rows.compensation_records(found, self.where, workflow_id)

    async def execution_logs(self, workflow_id: str) -> list[dict[str, Any]]:
        return [
            {
                "at": r["at"],
                "log_level": r["log_level"],
                "message": r["message"],
                "step_name": r["step_name"],
                "extra": self._json(r["extra"], workflow_id) or {},
            }
            for r in await self._rows("select_logs", workflow_id)
        ]

    async def audit_log(self, workflow_id: str) -> list[dict[str, Any]]:
        return [
            {
                "from_status": r["from_status"],
                "to_status": r["to_status"],
                "at": r["at"],
                "reason": r["reason"],
            }
            for r in await self._rows("select_audit", workflow_id)
        ]

    async def metrics(self, workflow_id: str) -> list[tuple[str, float]]:
        return [
            (r["name"], float(r["value"])) for r in await self._rows("select_metrics", workflow_id)
        ]

    # --- mapping (see rows.py) --------------------------------------------------------------

    def _json(self, value: Any, workflow_id: str) -> Any:
        return rows.parse(value, self.where, workflow_id)

    def _record(self, row: Row) -> WorkflowRecord:
        return rows.workflow_record(row, self.where)

    _step_values = staticmethod(rows.step_values)
    _comp_values = staticmethod(rows.comp_values)
