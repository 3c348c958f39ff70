"""Regressions found by trying to break DECISION, HUMAN_IN_LOOP, LOOP and approvals as a user:
each test failed before its fix."""

from __future__ import annotations

import pytest

import flow_steps
from flow_support import flow, step
from ruvon.errors import WorkflowValidationError
from ruvon.models import CompensationStatus as C
from ruvon.status import WorkflowStatus as S

APPROVED_CHARGE = step(
    "Charge", compensate_function="flow_steps.refund", compensation_requires_approval=True
)


async def test_a_failed_approved_compensation_runs_again_on_retry_without_a_new_approval() -> None:
    b = flow(APPROVED_CHARGE, step("Ship"), saga=True)
    wf = await b.create_workflow("F", {"fail_at": ["Ship"]})
    await wf.run()
    assert wf.status is S.WAITING_COMPENSATION_APPROVAL
    flow_steps.REFUND_FAILS.add(wf.id)
    assert await wf.approve_compensation("ann") is S.COMPENSATION_FAILED
    flow_steps.REFUND_FAILS.discard(wf.id)  # the provider is back
    assert await wf.retry() is S.FAILED_ROLLED_BACK
    charge = [(e.status, e.decided_by) for e in wf.compensation_journal if e.step_name == "Charge"]
    assert charge == [(C.FAILED, "ann"), (C.COMPLETED, "ann")]


async def test_an_approval_survives_the_death_of_the_process_running_the_compensation() -> None:
    b = flow(APPROVED_CHARGE, step("Ship"), saga=True)
    wf = await b.create_workflow("F", {"fail_at": ["Ship"]})
    await wf.run()
    flow_steps.REFUND_DIES.add(wf.id)
    with pytest.raises(KeyboardInterrupt):
        await wf.approve_compensation("ann", reason="customer called")
    again = await b.load_workflow(wf.id)  # another process (the lease is this test's to take)
    assert again.status is S.COMPENSATING and again.waiting_for is None
    again.runner_id = wf.runner_id  # the same runner, to skip waiting for the lease
    await again.next_step()
    assert again.status is S.FAILED_ROLLED_BACK
    [entry] = [e for e in again.compensation_journal if e.step_name == "Charge"]
    assert entry.status is C.COMPLETED and entry.decided_by == "ann"
    assert entry.detail is not None and entry.detail.startswith(
        "compensation approved by ann: customer called; run again"
    )


@pytest.mark.parametrize("tier", ["object", "huge-int"])
async def test_a_pause_whose_waiting_for_can_not_be_stored_fails_the_step_cleanly(
    tier: str,
) -> None:
    b = flow(
        step("Prep", compensate_function="flow_steps.undo"),
        step("Pause", "flow_steps.pause_unstorable"),
        saga=True,
    )
    wf = await b.create_workflow("F", {"tier": tier})
    await wf.run()  # nothing escapes
    assert wf.status is S.FAILED_ROLLED_BACK and "waiting_for" in wf.error.message  # type: ignore[union-attr]
    assert (await b.load_workflow(wf.id)).status is S.FAILED_ROLLED_BACK  # still loads


async def test_input_with_an_integer_too_long_to_read_back_is_refused_at_resume() -> None:
    wf = await flow(step("Review", "flow_steps.take_input", type="HUMAN_IN_LOOP")).create_workflow(
        "F"
    )
    await wf.next_step()
    with pytest.raises(WorkflowValidationError, match="can not be stored"):
        await wf.resume({"note": 10**5000})
    assert wf.status is S.WAITING_HUMAN
    assert (await wf.persistence.load_workflow(wf.id)).status is S.WAITING_HUMAN


async def test_a_result_key_kept_out_of_the_state_that_can_not_be_stored_fails_the_step() -> None:
    b = flow(
        step("Prep", compensate_function="flow_steps.undo"),
        step("Huge", "flow_steps.huge_extra"),
        saga=True,
    )
    wf = await b.create_workflow("F")
    await wf.run()
    assert wf.status is S.FAILED_ROLLED_BACK and wf.state.log == ["Prep", "undo:Prep"]
    assert (await b.load_workflow(wf.id)).status is S.FAILED_ROLLED_BACK


async def test_a_person_s_input_named_like_the_loop_item_wins_over_the_item() -> None:
    body = [step("Ask", "flow_steps.take_item", type="HUMAN_IN_LOOP")]
    wf = await flow(
        step("Items", None, type="LOOP", iterate_over="state.items", loop_body=body)
    ).create_workflow("F", {"items": ["a"]})
    await wf.next_step()
    await wf.resume({"item": "typed by a person"})
    assert wf.state.note == "item=typed by a person"


async def test_context_loop_item_is_the_state_s_own_object() -> None:
    body = [step("Mark", "flow_steps.mark_loop_item")]
    wf = await flow(
        step("Items", None, type="LOOP", iterate_over="state.items", loop_body=body)
    ).create_workflow("F", {"items": [{"id": 1}, {"id": 2}]})
    await wf.run()
    assert wf.state.items == [{"id": 1, "seen": True}, {"id": 2, "seen": True}]
