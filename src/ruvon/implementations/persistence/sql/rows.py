"""Between the SQL stores' rows and the records of the persistence contract, both ways.

A row Ruvon can not read (a corrupted JSON column, a value of the wrong shape) becomes a
``PersistenceError`` naming the database and the workflow. JSON goes through pydantic-core, not
orjson: results may hold integers beyond 64 bits, which orjson refuses on the way in and turns
into floats on the way out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pydantic_core

from ruvon.errors import PersistenceError
from ruvon.models import (
    CompensationRecord,
    CompensationStatus,
    StepRecord,
    StepStatus,
    WorkflowError,
)
from ruvon.providers.persistence import ScheduleRecord, WorkflowRecord
from ruvon.status import WorkflowStatus

Row = Mapping[str, Any]


def dump(value: Any) -> str | None:
    """A JSON column's text (``None`` stays SQL ``NULL``)."""
    return None if value is None else pydantic_core.to_json(value).decode()


def text(state: bytes | str) -> str:
    return state.decode() if isinstance(state, bytes) else state


def parse(value: Any, where: str, workflow_id: str) -> Any:
    """A JSON column's value (a driver may hand it over parsed already)."""
    if value is None or not isinstance(value, str | bytes):
        return value
    try:
        return pydantic_core.from_json(value)
    except ValueError as exc:
        raise PersistenceError(
            f"{where}: workflow '{workflow_id}' has a corrupted JSON column: {exc}"
        ) from exc


@contextmanager
def readable(where: str, workflow_id: str) -> Iterator[None]:
    """Turn a row of the wrong shape into a PersistenceError naming the workflow."""
    try:
        yield
    except PersistenceError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise PersistenceError(
            f"{where}: workflow '{workflow_id}' has a row Ruvon can not read: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def workflow_record(row: Row, where: str) -> WorkflowRecord:
    wid = row["id"]
    with readable(where, wid):
        state = row["state"]
        return WorkflowRecord(
            id=wid,
            workflow_type=row["workflow_type"],
            workflow_version=row["workflow_version"],
            status=WorkflowStatus(row["status"]),
            state=state.encode() if isinstance(state, str) else state,
            current_step=int(row["current_step"]),
            saga_mode=bool(row["saga_mode"]),
            definition=parse(row["definition"], where, wid),
            idempotency_key=row["idempotency_key"],
            parent_id=row["parent_id"],
            owner_id=row["owner_id"],
            metadata=parse(row["metadata"], where, wid) or {},
            error=WorkflowError.from_dict(parse(row["error"], where, wid)),
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
            version=int(row["version"]),
            lease_owner=row["lease_owner"],
            lease_expires_at=row["lease_expires_at"],
            cancel_requested=row["cancel_requested"],
            frames=frames(parse(row["frames"], where, wid)),
        )


def frames(value: Any) -> list[dict[str, Any]]:
    """The ``frames`` column's value: a list of JSON objects, ``[]`` for a row written before
    the column existed (``NULL``). Anything else is a row Ruvon can not read."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(f, dict) for f in value):
        raise ValueError(f"frames must be a list of JSON objects, not {value!r:.80}")
    return value


def step_records(rows: list[Row], where: str, workflow_id: str) -> list[StepRecord]:
    with readable(where, workflow_id):
        return [
            StepRecord(
                seq=int(r["seq"]),
                scope=r["scope"],
                step_name=r["step_name"],
                step_index=int(r["step_index"]),
                attempt=int(r["attempt"]),
                status=StepStatus(r["status"]),
                started_at=float(r["started_at"]),
                ended_at=r["ended_at"],
                result=parse(r["result"], where, workflow_id),
                error=WorkflowError.from_dict(parse(r["error"], where, workflow_id)),
                item=parse(r["item"], where, workflow_id),
            )
            for r in rows
        ]


def compensation_records(rows: list[Row], where: str, workflow_id: str) -> list[CompensationRecord]:
    with readable(where, workflow_id):
        return [
            CompensationRecord(
                sequence=int(r["sequence"]),
                forward_seq=int(r["forward_seq"]),
                scope=r["scope"],
                step_name=r["step_name"],
                step_index=int(r["step_index"]),
                function=r["function"],
                status=CompensationStatus(r["status"]),
                started_at=float(r["started_at"]),
                ended_at=r["ended_at"],
                attempts=int(r["attempts"]),
                error=WorkflowError.from_dict(parse(r["error"], where, workflow_id)),
                detail=r["detail"],
                decided_by=r["decided_by"],
                result=parse(r["result"], where, workflow_id),
            )
            for r in rows
        ]


def step_values(workflow_id: str, s: StepRecord, dump: Any = dump) -> dict[str, Any]:
    """A step attempt's query values (``dump`` writes its JSON columns)."""
    return {
        "workflow_id": workflow_id,
        "seq": s.seq,
        "scope": s.scope,
        "step_name": s.step_name,
        "step_index": s.step_index,
        "attempt": s.attempt,
        "status": s.status.value,
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "duration_ms": s.duration_ms,
        "result": dump(s.result),
        "error": dump(s.error.to_dict()) if s.error else None,
        "item": dump(s.item),
        "state_after": None if s.state is None else text(s.state),
    }


def comp_values(workflow_id: str, c: CompensationRecord, dump: Any = dump) -> dict[str, Any]:
    """A journal entry's query values (``dump`` writes its JSON columns)."""
    return {
        "workflow_id": workflow_id,
        "sequence": c.sequence,
        "forward_seq": c.forward_seq,
        "scope": c.scope,
        "step_name": c.step_name,
        "step_index": c.step_index,
        "function": c.function,
        "status": c.status.value,
        "started_at": c.started_at,
        "ended_at": c.ended_at,
        "duration_ms": c.duration_ms,
        "attempts": c.attempts,
        "error": dump(c.error.to_dict()) if c.error else None,
        "detail": c.detail,
        "decided_by": c.decided_by,
        "result": dump(c.result),
    }


def schedule_record(row: Row, where: str) -> ScheduleRecord:
    name = row["name"]
    try:
        data = row["initial_data"]
        if isinstance(data, str | bytes):  # asyncpg hands JSONB over as text too
            data = pydantic_core.from_json(data)
        if not isinstance(data, dict):
            raise ValueError(f"initial_data must be a JSON object, not {data!r:.80}")
        return ScheduleRecord(
            name=name,
            workflow_type=row["workflow_type"],
            workflow_version=row["workflow_version"],
            cron_expression=row["cron_expression"],
            initial_data=data,
            enabled=bool(row["enabled"]),
            next_due_at=float(row["next_due_at"]),
            last_tick_at=None if row["last_tick_at"] is None else float(row["last_tick_at"]),
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PersistenceError(
            f"{where}: schedule '{name}' has a row Ruvon can not read: {type(exc).__name__}: {exc}"
        ) from exc


def schedule_values(s: ScheduleRecord, flag: Any, now: float) -> dict[str, Any]:
    """A schedule's query values (``flag`` writes the boolean column as the driver wants)."""
    return {
        "name": s.name,
        "workflow_type": s.workflow_type,
        "workflow_version": s.workflow_version,
        "cron_expression": s.cron_expression,
        "initial_data": dump(s.initial_data),
        "enabled": flag(s.enabled),
        "next_due_at": s.next_due_at,
        "now": now,
    }
