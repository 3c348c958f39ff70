"""Regressions found by trying to break SUB_WORKFLOW as a new user (one test per finding)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import subflow_steps as fx
from ruvon.builder import WorkflowBuilder
from ruvon.errors import DefinitionError, IllegalOperationError, WorkflowSetupError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import CompensationStatus
from ruvon.status import WorkflowStatus as S
from ruvon.steps.subworkflow import MAX_DEPTH


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    fx.JOURNAL.clear()
    fx.FAIL.clear()
    fx.CALLS.clear()
    yield
    fx.FAIL.clear()


comp = fx.step


PAY = {
    "name": "Pay",
    "type": "SUB_WORKFLOW",
    "workflow_type": "Payment",
    "initial_data_template": {"trip_id": "{{ state.trip_id }}", "amount": "{{ state.amount }}"},
    "automate_next": True,
}
PAYMENT = {
    "workflow_type": "Payment",
    "initial_state_model": "subflow_steps.Payment",
    "steps": [
        comp("Authorize", "authorize", "void", automate_next=True),
        comp("Capture", "capture", "refund"),
    ],
}


def trip(*steps: dict[str, Any], model: str = "subflow_steps.Trip") -> dict[str, Any]:
    return {
        "workflow_type": "Trip",
        "initial_state_model": model,
        "saga_mode": True,
        "steps": list(steps),
    }


def builder(*defs: dict[str, Any], store: Any = None, **more: Any) -> WorkflowBuilder:
    return WorkflowBuilder(
        workflow_registry={d["workflow_type"]: d for d in defs},
        persistence_provider=store or InMemoryPersistenceProvider(),
        **more,
    )


async def test_a_child_whose_own_unwind_failed_leaves_its_parent_compensation_failed() -> None:
    """Finding 1: the parent said FAILED_ROLLED_BACK while its child was not rolled back."""
    fx.FAIL.update({"capture", "void"})  # the child fails, then undoing its authorization fails
    b = builder(trip(comp("Reserve", "reserve", "unreserve", automate_next=True), PAY), PAYMENT)
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.COMPENSATION_FAILED
    pay = next(e for e in wf.compensation_journal if e.step_name == "Pay")
    assert pay.status is CompensationStatus.FAILED and "COMPENSATION_FAILED" in (
        pay.error.message if pay.error else ""
    )
    assert fx.JOURNAL[-1] == "undo reserve"  # the unwind went on with the parent's own steps
    # fixed, then retried from the top: the child's failed compensation runs again
    fx.FAIL.clear()
    assert await wf.retry() is S.FAILED_ROLLED_BACK
    [child] = [r for r in await wf.persistence.list_workflows() if r.id != wf.id]
    assert child.status is S.FAILED_ROLLED_BACK
    assert fx.CALLS["undo authorize"] == 2 and fx.CALLS["undo reserve"] == 1


async def test_cancelling_a_parent_whose_child_awaits_an_approval_is_refused_clearly() -> None:
    """Finding 2: the parent was cancelled while its child still waited for an approval."""
    needs_ok = {
        **PAYMENT,
        "steps": [
            comp(
                "Authorize",
                "authorize",
                "void",
                automate_next=True,
                compensation_requires_approval=True,
            ),
            comp("Capture", "capture", "refund"),
        ],
    }
    fx.FAIL.add("capture")
    store = InMemoryPersistenceProvider()
    b = builder(trip(PAY), needs_ok, store=store)
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.WAITING_CHILD_HUMAN_INPUT
    with pytest.raises(IllegalOperationError, match="waits for a compensation to be approved"):
        await wf.cancel("changed my mind")
    assert (await store.load_workflow(wf.id)).status is S.WAITING_CHILD_HUMAN_INPUT
    [row] = await store.list_workflows(status=S.WAITING_COMPENSATION_APPROVAL)
    child = await b.load_workflow(row.id)
    await child.approve_compensation("ops")
    assert (await store.load_workflow(wf.id)).status is S.FAILED_ROLLED_BACK


async def test_a_completed_child_whose_result_does_not_fit_is_undone_with_its_parent() -> None:
    """Finding 3: the child stayed COMPLETED, never compensated, under a rolled-back parent."""
    b = builder(
        trip(
            comp("Reserve", "reserve", "unreserve", automate_next=True),
            PAY,
            model="subflow_steps.NarrowTrip",
        ),
        PAYMENT,
    )
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.FAILED_ROLLED_BACK
    assert wf.error is not None and wf.error.type == "StepResultError"
    assert fx.JOURNAL[-3:] == ["undo capture", "undo authorize", "undo reserve"]
    [child] = [r for r in await wf.persistence.list_workflows() if r.id != wf.id]
    assert child.status is S.FAILED_ROLLED_BACK


async def test_a_process_without_the_child_type_raises_and_writes_nothing() -> None:
    """Finding 4: recovery in a process that lacks the child's definition rolled the parent
    back for good; now the call raises, nothing is written, and recovery marks it."""
    store = InMemoryPersistenceProvider()
    full = builder(trip(comp("Reserve", "reserve", "unreserve"), PAY), PAYMENT, store=store)
    wf = await full.create_workflow("Trip")
    await wf.next_step()  # Reserve ran; Pay is next
    lacking = WorkflowBuilder(workflow_registry={}, persistence_provider=store, lease_seconds=0.2)
    again = await lacking.load_workflow(wf.id)
    with pytest.raises(WorkflowSetupError, match="unknown workflow type 'Payment'"):
        await again.next_step()
    row = await store.load_workflow(wf.id)
    assert (row.status, row.current_step) == (S.ACTIVE, 1)
    assert len(await store.list_workflows()) == 1  # no child
    await asyncio.sleep(0.3)  # the lease the failed call took runs out
    from ruvon.recovery import recover_pass

    report = await recover_pass(lacking, store)
    assert wf.id in report.failed and "WorkflowSetupError" in report.failed[wf.id]
    assert (await store.load_workflow(wf.id)).status is S.ACTIVE  # not rolled back


async def test_a_workflow_that_starts_itself_stops_at_the_depth_limit_with_no_orphan() -> None:
    """Finding 5: self-recursion ended in RecursionError around 108 levels, leaving an
    ACTIVE child nothing would ever run."""
    again = {**PAY, "workflow_type": "Trip", "initial_data_template": {"trip_id": "x"}}
    store = InMemoryPersistenceProvider()
    b = builder(trip(again), store=store)
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.FAILED_ROLLED_BACK
    rows = await store.list_workflows(limit=1000)
    assert len(rows) == MAX_DEPTH + 1
    assert all(r.status is not S.ACTIVE for r in rows)
    deepest = max(rows, key=lambda r: int(r.metadata.get("sub_workflow_depth", 0)))
    assert deepest.error is not None and f"the limit is {MAX_DEPTH}" in deepest.error.message


async def test_a_directive_with_data_that_is_not_a_dict_fails_the_step_clearly() -> None:
    """Finding 7: a list as initial_data failed with a bare TypeError from dict()."""
    b = builder(trip(comp("Pay", "start_with_list")), PAYMENT)
    wf = await b.create_workflow("Trip")
    await wf.run()
    assert wf.error is not None and wf.error.type == "StepResultError"
    assert "initial_data of type list; it must be a dict" in wf.error.message


def test_an_unknown_child_type_names_its_line(tmp_path: Any) -> None:
    """Finding 8: the error named file, step and key but no line."""
    (tmp_path / "trip.yaml").write_text(
        "workflow_type: Trip\n"
        "initial_state_model: subflow_steps.Trip\n"
        "steps:\n"
        "  - name: Pay\n"
        "    type: SUB_WORKFLOW\n"
        "    workflow_type: Paymnet\n"
    )
    with pytest.raises(DefinitionError) as info:
        WorkflowBuilder(config_dir=str(tmp_path)).get_definition("Trip")
    assert info.value.line == 6 and "trip.yaml:6" in str(info.value)


async def test_a_template_of_one_expression_keeps_its_value_s_type() -> None:
    """Finding 9: None arrived in the child as the string 'None', lists as text."""
    step = {
        **PAY,
        "workflow_type": "Ledger",
        "initial_data_template": {
            "trip_id": "{{ state.trip_id }}",
            "approved_by": "{{ state.nobody }}",
            "tags": "{{ state.tags }}",
            "note": "trip {{ state.trip_id }}",
        },
    }
    ledger = {
        "workflow_type": "Ledger",
        "initial_state_model": "subflow_steps.TaggedLedger",
        "steps": [comp("Post", "post", "unpost")],
    }
    b = builder(trip(step, model="subflow_steps.TaggedTrip"), ledger)
    wf = await b.create_workflow("Trip", {"tags": ["a", "b"]})
    assert await wf.run() is S.COMPLETED
    [entry] = wf.state.sub_workflow_results.values()
    state = entry["state"]
    assert (state["approved_by"], state["tags"], state["note"]) == (None, ["a", "b"], "trip T1")
