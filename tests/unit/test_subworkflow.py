"""SUB_WORKFLOW and StartSubWorkflowDirective: a child workflow as a step, nested sagas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import subflow_steps as fx
from ruvon.builder import WorkflowBuilder
from ruvon.errors import DefinitionError, WorkflowValidationError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import CompensationStatus
from ruvon.status import WorkflowStatus as S


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


def payment(*extra: dict[str, Any], saga: bool = False) -> dict[str, Any]:
    return {
        "workflow_type": "Payment",
        "initial_state_model": "subflow_steps.Payment",
        "saga_mode": saga,
        "steps": [
            comp("Authorize", "authorize", "void", automate_next=True),
            comp("Capture", "capture", "refund", automate_next=bool(extra)),
            *extra,
        ],
    }


def trip(*steps: dict[str, Any], saga: bool = False) -> dict[str, Any]:
    return {
        "workflow_type": "Trip",
        "initial_state_model": "subflow_steps.Trip",
        "saga_mode": saga,
        "steps": list(steps),
    }


def builder(*defs: dict[str, Any], store: Any = None) -> WorkflowBuilder:
    return WorkflowBuilder(
        workflow_registry={d["workflow_type"]: d for d in defs},
        persistence_provider=store or InMemoryPersistenceProvider(),
    )


STANDARD_TRIP = (
    comp("Reserve", "reserve", "unreserve", automate_next=True),
    PAY,
    comp("Finalize", "finalize"),
)


async def _child(b: WorkflowBuilder, parent: Any) -> Any:
    [child_id] = parent.state.sub_workflow_results or [parent.history[1].result["sub_workflow_id"]]
    return await b.load_workflow(child_id)


# --- the forward path ---------------------------------------------------------------------------


async def test_the_parent_waits_for_the_child_and_gets_its_final_state() -> None:
    b = builder(trip(*STANDARD_TRIP), payment())
    wf = await b.create_workflow("Trip", {"trip_id": "T9", "amount": 42})
    assert await wf.run() is S.COMPLETED
    assert fx.JOURNAL == ["reserve", "authorize", "capture", "finalize"]
    [(child_id, entry)] = wf.state.sub_workflow_results.items()
    assert entry["workflow_type"] == "Payment" and entry["status"] == "COMPLETED"
    assert entry["state"]["captured"] is True and entry["state"]["amount"] == 42.0
    assert entry["final_result"] == {"captured": True}
    child = await b.load_workflow(child_id)
    assert child.status is S.COMPLETED and child.parent_id == wf.id
    assert child.metadata["sub_workflow_of"] == wf.id and child.metadata["parent_step"] == "Pay"
    assert child.idempotency_key == f"{wf.id}:Pay"
    record = next(r for r in wf.history if r.step_name == "Pay")
    assert record.result is not None and record.result["sub_workflow_id"] == child_id
    # the parent was PENDING_SUB_WORKFLOW while the child ran (the store's audit log says so)
    audit = [
        (a["from_status"], a["to_status"]) for a in await b.persistence_provider.audit_log(wf.id)
    ]  # type: ignore[union-attr]
    assert ("ACTIVE", "PENDING_SUB_WORKFLOW") in audit
    assert ("PENDING_SUB_WORKFLOW", "ACTIVE") in audit


async def test_a_function_starts_a_child_with_the_directive_and_runs_once() -> None:
    b = builder(
        trip(comp("Pay", "start_payment", automate_next=True), comp("Finalize", "finalize")),
        payment(),
    )
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.COMPLETED
    assert fx.JOURNAL == ["start_payment", "authorize", "capture", "finalize"]
    [child_id] = wf.state.sub_workflow_results
    child = await b.load_workflow(child_id)
    assert child.metadata["data_region"] == "eu-west" and child.parent_id == wf.id


async def test_the_tutorial_loop_of_next_step_calls_drives_the_child_too() -> None:
    b = builder(trip(*STANDARD_TRIP), payment())
    wf = await b.create_workflow("Trip")
    while wf.status == "ACTIVE":
        await wf.next_step()
    assert wf.status is S.COMPLETED and wf.state.finalized


# --- failures -----------------------------------------------------------------------------------


async def test_a_failed_child_fails_its_parent_in_failed_child_workflow() -> None:
    fx.FAIL.add("capture")
    b = builder(trip(*STANDARD_TRIP), payment())
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.FAILED_CHILD_WORKFLOW
    assert wf.error is not None and wf.error.type == "ChildWorkflowFailed"
    assert "ended FAILED" in wf.error.message and "capture failed" in wf.error.message
    child_id = wf.error.message.split()[2]
    assert (await b.load_workflow(child_id)).status is S.FAILED
    assert "finalize" not in fx.JOURNAL


async def test_retry_of_the_parent_retries_its_failed_child_from_the_failed_step() -> None:
    fx.FAIL.add("capture")
    b = builder(trip(*STANDARD_TRIP), payment())
    wf = await b.create_workflow("Trip")
    await wf.run()
    first = wf.error.message.split()[2]  # type: ignore[union-attr]
    fx.FAIL.clear()
    assert await wf.retry() is S.COMPLETED
    assert list(wf.state.sub_workflow_results) == [first]  # the same child, gone on
    assert fx.CALLS == {"reserve": 1, "authorize": 1, "capture": 2, "finalize": 1}
    assert (await b.load_workflow(first)).status is S.COMPLETED


async def test_retry_of_the_failed_child_moves_its_parent_on() -> None:
    fx.FAIL.add("capture")
    b = builder(trip(*STANDARD_TRIP), payment())
    wf = await b.create_workflow("Trip")
    await wf.run()
    child = await b.load_workflow(wf.error.message.split()[2])  # type: ignore[union-attr]
    fx.FAIL.clear()
    assert await child.retry() is S.COMPLETED
    parent = await b.load_workflow(wf.id)
    assert parent.status is S.COMPLETED and list(parent.state.sub_workflow_results) == [child.id]
    assert fx.CALLS == {"reserve": 1, "authorize": 1, "capture": 2, "finalize": 1}


async def test_retry_of_the_parent_starts_a_new_child_when_the_old_one_rolled_back() -> None:
    fx.FAIL.add("capture")
    b = builder(trip(*STANDARD_TRIP), payment(saga=True))  # the child's own saga
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.FAILED_CHILD_WORKFLOW
    first = wf.error.message.split()[2]  # type: ignore[union-attr]
    assert (await b.load_workflow(first)).status is S.FAILED_ROLLED_BACK
    fx.FAIL.clear()
    assert await wf.retry() is S.COMPLETED
    [second] = wf.state.sub_workflow_results
    assert second != first
    assert (await b.load_workflow(second)).idempotency_key == f"{wf.id}:Pay#1"


async def test_a_child_that_fails_in_saga_mode_rolls_itself_back_then_its_parent() -> None:
    fx.FAIL.add("capture")
    b = builder(trip(*STANDARD_TRIP, saga=True), payment())
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.FAILED_ROLLED_BACK
    # the child inherited saga mode: it undid its authorization, then the parent its reserve
    assert fx.JOURNAL == ["reserve", "authorize", "capture", "undo authorize", "undo reserve"]
    child_id = wf.error.message.split()[2]  # type: ignore[union-attr]
    child = await b.load_workflow(child_id)
    assert child.saga_mode and child.status is S.FAILED_ROLLED_BACK


async def test_a_later_failure_unwinds_the_completed_child_before_earlier_steps() -> None:
    fx.FAIL.add("finalize")
    b = builder(trip(*STANDARD_TRIP, saga=True), payment())
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.FAILED_ROLLED_BACK
    assert fx.JOURNAL == [
        "reserve",
        "authorize",
        "capture",
        "finalize",
        "undo capture",
        "undo authorize",
        "undo reserve",
    ]
    [child_id] = wf.state.sub_workflow_results
    child = await b.load_workflow(child_id)
    assert child.status is S.FAILED_ROLLED_BACK and child.error is not None
    assert child.error.type == "ParentRolledBack" and wf.id in child.error.message
    assert [
        e.step_name for e in child.compensation_journal if e.status is CompensationStatus.COMPLETED
    ] == ["Capture", "Authorize"]
    pay = next(e for e in wf.compensation_journal if e.step_name == "Pay")
    assert pay.status is CompensationStatus.COMPLETED and child_id in (pay.detail or "")


async def test_a_child_whose_own_compensation_fails_leaves_the_parent_compensation_failed() -> None:
    fx.FAIL.update({"finalize", "refund"})
    b = builder(trip(*STANDARD_TRIP, saga=True), payment())
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.COMPENSATION_FAILED
    [child_id] = wf.state.sub_workflow_results
    assert (await b.load_workflow(child_id)).status is S.COMPENSATION_FAILED
    pay = next(e for e in wf.compensation_journal if e.step_name == "Pay")
    assert pay.status is CompensationStatus.FAILED and pay.error is not None
    assert "retry()" in pay.error.message
    assert "undo reserve" in fx.JOURNAL  # the unwind goes on with the others
    # the operator fixes the refund and retries the parent: the child's failed compensation
    # runs again, and the parent ends rolled back
    fx.FAIL.clear()
    assert await wf.retry() is S.FAILED_ROLLED_BACK
    assert (await b.load_workflow(child_id)).status is S.FAILED_ROLLED_BACK


# --- a child waiting for a person ---------------------------------------------------------------

CONFIRM = {
    "name": "Confirm",
    "type": "HUMAN_IN_LOOP",
    "function": "subflow_steps.approve",
    "input_model": "subflow_steps.Approval",
}


async def test_a_child_waiting_for_a_person_shows_on_the_parent_and_its_resume_finishes_both() -> (
    None
):
    store = InMemoryPersistenceProvider()
    b = builder(trip(*STANDARD_TRIP), payment(CONFIRM), store=store)
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.WAITING_CHILD_HUMAN_INPUT
    [child_id] = [r.id for r in await store.list_workflows(status=S.WAITING_HUMAN)]
    # another process resumes the child by its id
    other = builder(trip(*STANDARD_TRIP), payment(CONFIRM), store=store)
    child = await other.load_workflow(child_id)
    await child.resume({"by": "ops"})
    assert child.status is S.COMPLETED
    parent = await other.load_workflow(wf.id)
    assert parent.status is S.COMPLETED and parent.state.finalized
    assert fx.JOURNAL[-2:] == ["approved by ops", "finalize"]
    assert parent.state.sub_workflow_results[child_id]["state"]["approved_by"] == "ops"


async def test_input_given_to_the_parent_goes_on_to_the_child_that_waits() -> None:
    b = builder(trip(*STANDARD_TRIP), payment(CONFIRM))
    wf = await b.create_workflow("Trip")
    await wf.run()
    with pytest.raises(WorkflowValidationError, match="by: Field required"):
        await wf.resume({"who": "x"})
    assert wf.status is S.WAITING_CHILD_HUMAN_INPUT  # nothing written
    row = await wf.persistence.load_workflow(wf.id)
    assert row.status is S.WAITING_CHILD_HUMAN_INPUT and row.lease_owner is None
    await wf.resume({"by": "ann"})
    assert await wf.run() is S.COMPLETED and fx.JOURNAL[-2:] == ["approved by ann", "finalize"]


async def test_bad_input_to_the_waiting_child_writes_nothing_on_either() -> None:
    store = InMemoryPersistenceProvider()
    b = builder(trip(*STANDARD_TRIP), payment(CONFIRM), store=store)
    wf = await b.create_workflow("Trip")
    await wf.run()
    [row] = await store.list_workflows(status=S.WAITING_HUMAN)
    child = await b.load_workflow(row.id)
    with pytest.raises(WorkflowValidationError):
        await child.resume({"nobody": 1})
    assert (await store.load_workflow(wf.id)).status is S.WAITING_CHILD_HUMAN_INPUT
    assert (await store.load_workflow(row.id)).status is S.WAITING_HUMAN


LEDGER = {
    "workflow_type": "Ledger",
    "initial_state_model": "subflow_steps.Ledger",
    "steps": [
        comp("Post", "post", "unpost", automate_next=True),
        {
            "name": "Sign",
            "type": "HUMAN_IN_LOOP",
            "function": "subflow_steps.sign",
            "input_model": "subflow_steps.Approval",
        },
    ],
}
BOOK = {
    "name": "Book",
    "type": "SUB_WORKFLOW",
    "workflow_type": "Ledger",
    "initial_data_template": {"trip_id": "{{ state.trip_id }}"},
}


async def test_three_levels_wait_and_resume_from_the_bottom() -> None:
    store = InMemoryPersistenceProvider()
    b = builder(trip(*STANDARD_TRIP), payment(BOOK), LEDGER, store=store)
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.WAITING_CHILD_HUMAN_INPUT
    [child] = await store.list_workflows(workflow_type="Payment")
    [grandchild] = await store.list_workflows(workflow_type="Ledger")
    assert (child.status, grandchild.status) == (S.WAITING_CHILD_HUMAN_INPUT, S.WAITING_HUMAN)
    assert grandchild.parent_id == child.id
    g = await b.load_workflow(grandchild.id)
    await g.resume({"by": "cfo"})
    assert (await store.load_workflow(child.id)).status is S.COMPLETED
    assert (await store.load_workflow(wf.id)).status is S.COMPLETED
    assert fx.JOURNAL == ["reserve", "authorize", "capture", "post", "signed by cfo", "finalize"]


async def test_three_levels_unwind_grandchild_first() -> None:
    fx.FAIL.add("finalize")
    b = builder(trip(*STANDARD_TRIP, saga=True), payment(BOOK), LEDGER)
    wf = await b.create_workflow("Trip")
    await wf.run()
    await wf.resume({"by": "cfo"})
    assert wf.status is S.FAILED_ROLLED_BACK
    assert fx.JOURNAL[-4:] == ["undo post", "undo capture", "undo authorize", "undo reserve"]


async def test_cancelling_a_parent_that_waits_cancels_its_child() -> None:
    store = InMemoryPersistenceProvider()
    b = builder(trip(*STANDARD_TRIP, saga=True), payment(CONFIRM), store=store)
    wf = await b.create_workflow("Trip")
    await wf.run()
    [row] = await store.list_workflows(status=S.WAITING_HUMAN)
    assert await wf.cancel("customer left") is S.CANCELLED
    child = await store.load_workflow(row.id)
    assert child.status is S.CANCELLED
    # both sagas undid what they had done
    assert fx.JOURNAL[-3:] == ["undo capture", "undo authorize", "undo reserve"]


async def test_cancelling_the_waiting_child_cancels_its_parent() -> None:
    store = InMemoryPersistenceProvider()
    b = builder(trip(*STANDARD_TRIP), payment(CONFIRM), store=store)
    wf = await b.create_workflow("Trip")
    await wf.run()
    [row] = await store.list_workflows(status=S.WAITING_HUMAN)
    child = await b.load_workflow(row.id)
    assert await child.cancel("nobody approves") is S.CANCELLED
    assert (await store.load_workflow(wf.id)).status is S.CANCELLED


# --- wait: false, and bad input -----------------------------------------------------------------


async def test_wait_false_starts_the_child_and_goes_on() -> None:
    from ruvon.steps.spawn import running

    b = builder(trip({**PAY, "wait": False}, comp("Finalize", "finalize")), payment())
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.COMPLETED
    for task in running():
        await task
    child_id = wf.history[0].result["sub_workflow_id"]  # type: ignore[index]
    child = await b.load_workflow(child_id)
    assert child.status is S.COMPLETED and "sub_workflow_of" not in child.metadata
    assert wf.state.sub_workflow_results == {}


async def test_bad_initial_data_for_the_child_fails_the_step_naming_the_type() -> None:
    step = {**PAY, "initial_data_template": {"trip_id": "{{ state.trip_id }}"}}
    b = builder(trip(step), payment())
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.FAILED
    assert wf.error is not None and "initial data for workflow 'Payment'" in wf.error.message
    assert "amount" in wf.error.message


async def test_a_directive_naming_an_unknown_type_fails_the_step() -> None:
    b = builder(trip(comp("Pay", "start_unknown")), payment())
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.FAILED
    assert wf.error is not None and "unknown workflow type 'NoSuchType'" in wf.error.message


@pytest.mark.parametrize(
    ("step", "key", "words"),
    [
        (
            {**PAY, "workflow_type": "Paymnet"},
            "workflow_type",
            "workflow type 'Paymnet' is not defined",
        ),
        ({**PAY, "function": "subflow_steps.reserve"}, "function", "not a function"),
        (
            {**PAY, "wait": False, "compensate_function": "subflow_steps.unreserve"},
            "compensate_function",
            "wait: false",
        ),
        ({k: v for k, v in PAY.items() if k != "workflow_type"}, "workflow_type", "required"),
    ],
    ids=["unknown-type", "function", "no-wait-compensation", "missing-type"],
)
def test_a_bad_sub_workflow_step_is_a_definition_error_naming_step_and_key(
    step: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(DefinitionError) as info:
        builder(trip(step), payment()).get_definition("Trip")
    err = info.value
    assert (err.step, err.key) == ("Pay", key) and words in str(err)
    assert err.workflow_type == "Trip"


async def test_a_parent_waiting_through_its_child_says_which_child_and_stays_put() -> None:
    store = InMemoryPersistenceProvider()
    b = builder(trip(*STANDARD_TRIP), payment(CONFIRM), store=store)
    wf = await b.create_workflow("Trip")
    await wf.run()
    [row] = await store.list_workflows(status=S.WAITING_HUMAN)
    waiting = wf.waiting_for
    assert waiting is not None
    assert (waiting["status"], waiting["step"], waiting["child_workflow_id"]) == (
        "WAITING_CHILD_HUMAN_INPUT",
        "Pay",
        row.id,
    )
    audit = len(await store.audit_log(wf.id))
    child_version = (await store.load_workflow(row.id)).version
    await wf.next_step()  # no input: the child still waits; no status goes back and forth
    assert wf.status is S.WAITING_CHILD_HUMAN_INPUT
    assert len(await store.audit_log(wf.id)) == audit
    assert (await store.load_workflow(row.id)).version == child_version


async def test_a_loop_runs_a_child_per_item_and_unwinds_them_newest_first() -> None:
    loop = {
        "name": "Each",
        "type": "LOOP",
        "mode": "ITERATE",
        "iterate_over": "legs",
        "item_var_name": "leg",
        "loop_body": [
            {
                "name": "Pay_Leg",
                "type": "SUB_WORKFLOW",
                "workflow_type": "Payment",
                "initial_data_template": {"trip_id": "{{ state.trip_id }}", "amount": 1},
            }
        ],
        "automate_next": True,
    }
    fx.FAIL.add("finalize")
    b = builder(
        {
            **trip(loop, comp("Finalize", "finalize"), saga=True),
            "initial_state_model": "subflow_steps.Legs",
        },
        payment(),
    )
    wf = await b.create_workflow("Trip", {"legs": ["a", "b", "c"]})
    assert await wf.run() is S.FAILED_ROLLED_BACK
    assert len(wf.state.sub_workflow_results) == 3
    expected = [
        *(["authorize", "capture"] * 3),
        "finalize",
        *(["undo capture", "undo authorize"] * 3),
    ]
    done = list(fx.JOURNAL)
    assert done == expected
    children = [await b.load_workflow(cid) for cid in wf.state.sub_workflow_results]
    keys = sorted(c.idempotency_key or "" for c in children)
    assert all(c.status is S.FAILED_ROLLED_BACK for c in children)
    assert keys == [f"{wf.id}:Each/iter:{i}/Pay_Leg" for i in range(3)]
    # newest first: the third leg's child is undone before the second's
    undone = [e for e in wf.compensation_journal if e.step_name == "Pay_Leg"]
    assert [e.scope for e in undone] == [f"Each/iter:{i}/Pay_Leg" for i in (2, 1, 0)]


async def test_a_parallel_task_can_not_start_a_child() -> None:
    par = {
        "name": "Both",
        "type": "PARALLEL",
        "tasks": [{"name": "pay", "function": "subflow_steps.start_payment"}],
    }
    b = builder(trip(par), payment())
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.FAILED
    assert wf.error is not None and "StartSubWorkflowDirective" in wf.error.message
