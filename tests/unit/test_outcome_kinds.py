"""The runner's side of the handler contract: outcome kinds that wait keep the cursor, and the
runner records the deciding attempt itself (item 22 of issue 8)."""

from __future__ import annotations

from typing import Any

import pytest

from engine_support import builder, st
from ruvon.definition.schema import StepType
from ruvon.models import StepStatus
from ruvon.runtime.merge import merge_result
from ruvon.runtime.outcome import OutcomeKind, StepOutcome
from ruvon.status import WorkflowStatus as S
from ruvon.steps import STEP_HANDLERS


class _Waits:
    """A handler whose step asks to wait (as ASYNC, SUB_WORKFLOW or HUMAN_IN_LOOP will)."""

    def __init__(self, kind: OutcomeKind) -> None:
        self.kind = kind

    async def run(
        self, wf: Any, step: Any, user_input: Any, validated: Any, where: Any
    ) -> StepOutcome:
        return StepOutcome(
            kind=self.kind,
            merged=merge_result(wf.state, {"note": "dispatched"}, step.name),
            attempt=2,
            started_at=10.0,
            ended_at=11.5,
        )


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (OutcomeKind.WAIT_INPUT, S.PAUSED),
        (OutcomeKind.WAIT_ASYNC, S.PENDING_ASYNC),
        (OutcomeKind.WAIT_CHILD, S.PENDING_SUB_WORKFLOW),
        (OutcomeKind.WAIT_CHILD_INPUT, S.WAITING_CHILD_HUMAN_INPUT),
    ],
)
async def test_a_waiting_outcome_keeps_the_cursor_on_its_own_step(
    monkeypatch: pytest.MonkeyPatch, kind: OutcomeKind, status: S
) -> None:
    monkeypatch.setitem(STEP_HANDLERS, StepType.STANDARD, _Waits(kind))
    wf = await builder(st("A"), st("B")).create_workflow("T")
    await wf.next_step()
    assert (wf.status, wf.current_step_name, wf.state.note) == (status, "A", "dispatched")
    row = await wf.persistence.load_workflow(wf.id)
    # a parent waiting for its child keeps its lease (its runner drives the child; recovery
    # continues it when the lease runs out); every other wait lets it go
    held = wf.runner_id if status is S.PENDING_SUB_WORKFLOW else None
    assert (row.status, row.current_step, row.lease_owner) == (status, 0, held)
    # the runner recorded the attempt the handler described, once
    [record] = await wf.persistence.step_history(wf.id)
    assert (record.attempt, record.status, record.started_at, record.ended_at) == (
        2,
        StepStatus.COMPLETED,
        10.0,
        11.5,
    )
    assert record.scope == "A"
