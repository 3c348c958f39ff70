"""Engine defects found by the supervised crash campaign (``test_recovery_supervised.py``),
minimized. An ``xfail(strict=True)`` test here is a bug still open: it fails today and must
start passing (then lose its marker) when the engine is fixed.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from ruvon.implementations.persistence import store_from_url
from ruvon.models import CompensationRecord
from ruvon.models import CompensationStatus as C
from ruvon.providers.persistence import Transition, WorkflowRecord
from ruvon.runtime.status import WorkflowStatus as S


def _entry(status: C, started_at: float, ended_at: float | None = None) -> CompensationRecord:
    return CompensationRecord(
        sequence=0,
        forward_seq=2,
        step_name="Reserve_Inventory",
        step_index=2,
        function="crashapp.steps.release_inventory",
        status=status,
        started_at=started_at,
        ended_at=ended_at,
    )


def _commit(row: WorkflowRecord, version: int, entry: CompensationRecord) -> Transition:
    return Transition(
        workflow_id=row.id,
        expected_version=version,
        runner_id="runner",
        previous_status=S.COMPENSATING,
        status=S.COMPENSATING,
        state=b"{}",
        current_step=3,
        saga_mode=True,
        error=None,
        updated_at=time.time(),
        compensations=[entry],
    )


@pytest.mark.parametrize(
    "kind",
    [
        "memory",
        "sqlite",
    ],
)
async def test_restarted_compensation__journal_keeps_the_start_of_the_run_that_finished(
    kind: str, tmp_path: Path
) -> None:
    """The process that started release_inventory was killed (its STARTED entry committed);
    recovery ran it again from t=20 and committed it COMPLETED at t=21. The journal must say
    the run that finished started at 20, as the committed transition says (and as the
    in-memory Workflow object says after the commit)."""
    url = "memory://" if kind == "memory" else f"sqlite:///{tmp_path / 'r.db'}"
    store = store_from_url(url)
    try:
        now = time.time()
        row = WorkflowRecord(
            id=str(uuid.uuid4()),
            workflow_type="PaymentProcessing",
            workflow_version="1.0.0",
            status=S.COMPENSATING,
            state=b"{}",
            current_step=3,
            saga_mode=True,
            definition={},
            created_at=now,
            updated_at=now,
        )
        await store.create_workflow(row)
        await store.commit(_commit(row, 0, _entry(C.STARTED, 10.0)))  # then the kill
        await store.commit(_commit(row, 1, _entry(C.COMPLETED, 20.0, 21.0)))  # recovery's run
        (entry,) = await store.compensation_journal(row.id)
        assert (entry.status, entry.started_at, entry.ended_at) == (C.COMPLETED, 20.0, 21.0)
    finally:
        await store.close()
