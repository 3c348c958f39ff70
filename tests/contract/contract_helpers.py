"""Records and transitions for the store contract tests, built with sensible defaults."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from ruvon.providers.persistence import Transition, WorkflowRecord
from ruvon.runtime.status import WorkflowStatus

SNAPSHOT: dict[str, Any] = {
    "workflow_type": "T",
    "workflow_version": "1",
    "steps": [{"name": "A", "function": "x.y"}, {"name": "B", "function": "x.z"}],
    "nested": {"list": [1, 2.5, None, True, "Zürich ✓"], "empty": {}},
}


def new_id() -> str:
    return str(uuid.uuid4())


def record(
    wid: str | None = None,
    *,
    status: WorkflowStatus = WorkflowStatus.ACTIVE,
    state: dict[str, Any] | None = None,
    created_at: float | None = None,
    workflow_type: str = "T",
    definition: dict[str, Any] | None = None,
    **fields: Any,
) -> WorkflowRecord:
    now = time.time() if created_at is None else created_at
    return WorkflowRecord(
        id=wid or new_id(),
        workflow_type=workflow_type,
        workflow_version="1",
        status=status,
        state=orjson.dumps(state if state is not None else {"n": 1, "log": []}),
        current_step=fields.pop("current_step", 0),
        saga_mode=fields.pop("saga_mode", False),
        definition=definition if definition is not None else SNAPSHOT,
        created_at=now,
        updated_at=fields.pop("updated_at", now),
        **fields,
    )


def transition(
    row: WorkflowRecord,
    *,
    status: WorkflowStatus | None = None,
    state: dict[str, Any] | None = None,
    expected_version: int | None = None,
    **fields: Any,
) -> Transition:
    """A transition from ``row`` (as last loaded) to ``status`` (default: same status)."""
    return Transition(
        workflow_id=row.id,
        expected_version=row.version if expected_version is None else expected_version,
        # by default the runner that holds the row's lease (or any runner, if none does)
        runner_id=fields.pop("runner_id", row.lease_owner or "test-runner"),
        previous_status=row.status,
        status=status or row.status,
        state=orjson.dumps(state if state is not None else {"n": 2}),
        current_step=fields.pop("current_step", row.current_step),
        saga_mode=fields.pop("saga_mode", row.saga_mode),
        error=fields.pop("error", None),
        updated_at=fields.pop("updated_at", time.time()),
        **fields,
    )


def state_of(row: WorkflowRecord) -> Any:
    """The state JSON of a row, parsed (PostgreSQL's JSONB does not keep the bytes as given)."""
    return orjson.loads(row.state)
