"""SUB_WORKFLOW on every store: a parent runs a child (and a grandchild) as a step.

Each workflow is run by a builder on one store and read back through a SECOND store object on
the same database, with a second builder, as another process would: the rows of parent and
child (status, ``parent_id``, metadata, idempotency key, lease), the parent's
``sub_workflow_results``, the step history and the compensation journal of each (nested sagas
unwind child first, across both journals), the parent's audit log; waits for a person resumed
from the second builder, cancel, retry, and a runner that dies while it drives the child,
continued by ``builder.recover()``. Steps come from ``subflow_steps`` (``JOURNAL`` says what ran,
in order, across all the workflows of one process) and, for the runner that dies,
``recovery_steps``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from contract_backends import Backend

import subflow_steps as fx
from hardening_steps import Abort
from recovery_steps import KILL, Killed
from ruvon.builder import WorkflowBuilder
from ruvon.models import CompensationRecord, StepStatus
from ruvon.models import CompensationStatus as C
from ruvon.providers.persistence import PersistenceProvider, WorkflowRecord
from ruvon.status import WorkflowStatus as S


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    fx.JOURNAL.clear()
    fx.FAIL.clear()
    fx.CALLS.clear()
    KILL["in"] = None
    yield
    fx.FAIL.clear()
    KILL["in"] = None


# --- definitions (as in tests/unit/test_subworkflow.py) ------------------------------------------


comp = fx.step


PAY = {
    "name": "Pay",
    "type": "SUB_WORKFLOW",
    "workflow_type": "Payment",
    "initial_data_template": {"trip_id": "{{ state.trip_id }}", "amount": "{{ state.amount }}"},
    "automate_next": True,
}
CONFIRM = {
    "name": "Confirm",
    "type": "HUMAN_IN_LOOP",
    "function": "subflow_steps.approve",
    "input_model": "subflow_steps.Approval",
}
BOOK = {
    "name": "Book",
    "type": "SUB_WORKFLOW",
    "workflow_type": "Ledger",
    "initial_data_template": {"trip_id": "{{ state.trip_id }}"},
}
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


def payment(*extra: dict[str, Any], saga: bool = False, approve: bool = False) -> dict[str, Any]:
    """The child; with ``approve`` undoing its Authorize step waits for an operator."""
    authorize = comp("Authorize", "authorize", "void", automate_next=True)
    if approve:
        authorize["compensation_requires_approval"] = True
    return {
        "workflow_type": "Payment",
        "initial_state_model": "subflow_steps.Payment",
        "saga_mode": saga,
        "steps": [
            authorize,
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


STANDARD_TRIP = (
    comp("Reserve", "reserve", "unreserve", automate_next=True),
    PAY,
    comp("Finalize", "finalize"),
)


def on(store: PersistenceProvider, *defs: dict[str, Any], **kwargs: Any) -> WorkflowBuilder:
    return WorkflowBuilder(
        workflow_registry={d["workflow_type"]: d for d in defs},
        persistence_provider=store,
        **kwargs,
    )


async def second(backend: Backend) -> PersistenceProvider:
    """Another store object on the same database: what another process would read."""
    other: PersistenceProvider = backend.new_store()
    await other.initialize()
    return other


async def rows_of(store: PersistenceProvider, workflow_type: str) -> list[WorkflowRecord]:
    return sorted(
        await store.list_workflows(workflow_type=workflow_type), key=lambda r: r.created_at
    )


async def audit(store: PersistenceProvider, wid: str) -> list[tuple[str | None, str]]:
    return [(a["from_status"], a["to_status"]) for a in await store.audit_log(wid)]


def settled(journal: list[CompensationRecord]) -> list[tuple[str, C]]:
    return [(e.scope, e.status) for e in journal if e.status is not C.STARTED]


def free(row: WorkflowRecord) -> bool:
    return row.lease_owner is None and row.lease_expires_at is None


def child_frame(row: WorkflowRecord) -> tuple[str, str]:
    """(scope, child id) of the one frame of a parent that waits for a child."""
    [frame] = row.frames
    assert frame["kind"] == "child"
    return frame["scope"], frame["child_id"]


def child_id_of(history: list[Any], scope: str) -> str:
    [record] = [r for r in history if r.scope == scope and r.status is StepStatus.COMPLETED]
    assert record.result is not None
    return str(record.result["sub_workflow_id"])


# --- the forward path -----------------------------------------------------------------------------


async def test_a_completed_child_as_another_process_reads_it(
    store: PersistenceProvider, backend: Backend
) -> None:
    wf = await on(store, trip(*STANDARD_TRIP), payment()).create_workflow(
        "Trip", {"trip_id": "T7", "amount": 42}
    )
    assert await wf.run() is S.COMPLETED

    reader = await second(backend)
    [parent_row] = await rows_of(reader, "Trip")
    [child_row] = await rows_of(reader, "Payment")
    assert (parent_row.id, parent_row.status, parent_row.parent_id) == (wf.id, S.COMPLETED, None)
    assert (child_row.status, child_row.parent_id) == (S.COMPLETED, wf.id)
    assert child_row.idempotency_key == f"{wf.id}:Pay"
    assert (
        child_row.metadata.items()
        >= {
            "sub_workflow_of": wf.id,
            "parent_step": "Pay",
            "spawned_by": wf.id,
        }.items()
    )
    assert not child_row.saga_mode  # its parent is not in saga mode
    assert free(parent_row) and free(child_row)
    assert parent_row.frames == [] and child_row.frames == []

    parent = await on(reader, trip(*STANDARD_TRIP), payment()).load_workflow(wf.id)
    [(child_id, entry)] = parent.state.sub_workflow_results.items()
    assert child_id == child_row.id
    assert entry == {
        "workflow_type": "Payment",
        "status": "COMPLETED",
        "state": {
            "trip_id": "T7",
            "amount": 42.0,
            "authorized": True,
            "captured": True,
            "approved_by": None,
            "sub_workflow_results": {},
        },
        "final_result": {"captured": True},
    }
    assert parent.state.reserved and parent.state.finalized

    parent_history = await reader.step_history(wf.id)
    assert [(r.scope, r.status, r.attempt) for r in parent_history] == [
        ("Reserve", StepStatus.COMPLETED, 1),
        ("Pay", StepStatus.COMPLETED, 1),
        ("Finalize", StepStatus.COMPLETED, 1),
    ]
    pay = parent_history[1].result
    assert pay is not None
    assert (pay["sub_workflow_id"], pay["sub_workflow_type"], pay["sub_workflow_waited"]) == (
        child_row.id,
        "Payment",
        True,
    )
    child_history = await reader.step_history(child_row.id)
    assert [(r.scope, r.status) for r in child_history] == [
        ("Authorize", StepStatus.COMPLETED),
        ("Capture", StepStatus.COMPLETED),
    ]
    # the child ran while its parent waited in PENDING_SUB_WORKFLOW
    assert await audit(reader, wf.id) == [
        (None, "ACTIVE"),
        ("ACTIVE", "PENDING_SUB_WORKFLOW"),
        ("PENDING_SUB_WORKFLOW", "ACTIVE"),
        ("ACTIVE", "COMPLETED"),
    ]
    assert await audit(reader, child_row.id) == [(None, "ACTIVE"), ("ACTIVE", "COMPLETED")]
    # the child finished before the parent went on
    assert child_history[-1].ended_at <= parent_history[1].ended_at
    assert parent_history[0].ended_at <= child_history[0].started_at
    assert fx.JOURNAL == ["reserve", "authorize", "capture", "finalize"]
    assert await reader.compensation_journal(wf.id) == []
    assert await reader.compensation_journal(child_row.id) == []


async def test_a_later_failure_unwinds_the_child_first_in_both_journals(
    store: PersistenceProvider, backend: Backend
) -> None:
    fx.FAIL.add("finalize")
    wf = await on(store, trip(*STANDARD_TRIP, saga=True), payment()).create_workflow("Trip")
    assert await wf.run() is S.FAILED_ROLLED_BACK

    reader = await second(backend)
    parent_row = await reader.load_workflow(wf.id)
    [child_row] = await rows_of(reader, "Payment")
    assert (parent_row.status, child_row.status) == (S.FAILED_ROLLED_BACK, S.FAILED_ROLLED_BACK)
    assert child_row.saga_mode  # started by a parent in saga mode
    assert child_row.error is not None and child_row.error.type == "ParentRolledBack"
    assert wf.id in child_row.error.message
    assert free(parent_row) and free(child_row)
    assert await audit(reader, child_row.id) == [
        (None, "ACTIVE"),
        ("ACTIVE", "COMPLETED"),
        ("COMPLETED", "COMPENSATING"),
        ("COMPENSATING", "FAILED_ROLLED_BACK"),
    ]

    parent_journal = await reader.compensation_journal(wf.id)
    child_journal = await reader.compensation_journal(child_row.id)
    assert settled(parent_journal) == [
        ("Finalize", C.SKIPPED),
        ("Pay", C.COMPLETED),
        ("Reserve", C.COMPLETED),
    ]
    assert settled(child_journal) == [("Capture", C.COMPLETED), ("Authorize", C.COMPLETED)]
    pay = next(e for e in parent_journal if e.scope == "Pay")
    reserve = next(e for e in parent_journal if e.scope == "Reserve")
    assert child_row.id in (pay.detail or "")
    # child first: the child's whole unwind lies inside the parent's entry for Pay, and the
    # parent's earlier step is undone only after it
    assert pay.ended_at is not None
    for e in child_journal:
        assert e.ended_at is not None
        assert pay.started_at <= e.started_at <= e.ended_at <= pay.ended_at <= reserve.started_at
    assert fx.JOURNAL[-3:] == ["undo capture", "undo authorize", "undo reserve"]

    loaded = await on(reader, trip(*STANDARD_TRIP, saga=True), payment()).load_workflow(wf.id)
    assert loaded.state.reserved is False and not loaded.state.finalized
    child = await on(reader, trip(*STANDARD_TRIP, saga=True), payment()).load_workflow(child_row.id)
    assert (child.state.authorized, child.state.captured) == (False, False)
    assert [(r.scope, r.status) for r in await reader.step_history(wf.id)] == [
        ("Reserve", StepStatus.COMPLETED),
        ("Pay", StepStatus.COMPLETED),
        ("Finalize", StepStatus.FAILED),
    ]


async def test_a_child_that_fails_in_saga_mode_rolls_itself_back_before_its_parent(
    store: PersistenceProvider, backend: Backend
) -> None:
    fx.FAIL.add("capture")
    wf = await on(store, trip(*STANDARD_TRIP, saga=True), payment()).create_workflow("Trip")
    assert await wf.run() is S.FAILED_ROLLED_BACK

    reader = await second(backend)
    [child_row] = await rows_of(reader, "Payment")
    assert child_row.status is S.FAILED_ROLLED_BACK and child_row.saga_mode
    parent_row = await reader.load_workflow(wf.id)
    assert parent_row.error is not None and parent_row.error.type == "ChildWorkflowFailed"
    assert child_row.id in parent_row.error.message
    child_journal = await reader.compensation_journal(child_row.id)
    parent_journal = await reader.compensation_journal(wf.id)
    assert settled(child_journal) == [("Capture", C.SKIPPED), ("Authorize", C.COMPLETED)]
    # the step that ran the failed child is not compensated again
    assert settled(parent_journal) == [("Pay", C.SKIPPED), ("Reserve", C.COMPLETED)]
    assert max(e.ended_at or 0 for e in child_journal) <= min(e.started_at for e in parent_journal)
    assert fx.JOURNAL == ["reserve", "authorize", "capture", "undo authorize", "undo reserve"]


# --- a child waiting for a person --------------------------------------------------------------


async def test_a_child_waiting_for_a_person_is_resumed_by_id_from_a_second_builder(
    store: PersistenceProvider, backend: Backend
) -> None:
    defs = (trip(*STANDARD_TRIP), payment(CONFIRM))
    wf = await on(store, *defs).create_workflow("Trip")
    assert await wf.run() is S.WAITING_CHILD_HUMAN_INPUT

    reader = await second(backend)
    parent_row = await reader.load_workflow(wf.id)
    [child_row] = await reader.list_workflows(status=S.WAITING_HUMAN)
    assert parent_row.status is S.WAITING_CHILD_HUMAN_INPUT
    assert child_row.parent_id == wf.id and child_row.workflow_type == "Payment"
    # nobody runs either of them now: no lease on either
    assert free(parent_row) and free(child_row)
    assert child_frame(parent_row) == ("Pay", child_row.id)
    assert [r.id for r in await reader.list_workflows(status=S.WAITING_CHILD_HUMAN_INPUT)] == [
        wf.id
    ]
    assert await audit(reader, wf.id) == [
        (None, "ACTIVE"),
        ("ACTIVE", "PENDING_SUB_WORKFLOW"),
        ("PENDING_SUB_WORKFLOW", "WAITING_CHILD_HUMAN_INPUT"),
    ]

    other = on(reader, *defs)
    child = await other.load_workflow(child_row.id)
    assert child.waiting_for is not None and child.waiting_for["step"] == "Confirm"
    await child.resume({"by": "ops"})
    assert child.status is S.COMPLETED

    third = await second(backend)
    parent_row = await third.load_workflow(wf.id)
    child_row = await third.load_workflow(child_row.id)
    assert (parent_row.status, child_row.status) == (S.COMPLETED, S.COMPLETED)
    assert free(parent_row) and free(child_row) and parent_row.frames == []
    assert await audit(third, wf.id) == [
        (None, "ACTIVE"),
        ("ACTIVE", "PENDING_SUB_WORKFLOW"),
        ("PENDING_SUB_WORKFLOW", "WAITING_CHILD_HUMAN_INPUT"),
        ("WAITING_CHILD_HUMAN_INPUT", "PENDING_SUB_WORKFLOW"),
        ("PENDING_SUB_WORKFLOW", "ACTIVE"),
        ("ACTIVE", "COMPLETED"),
    ]
    parent = await on(third, *defs).load_workflow(wf.id)
    assert parent.state.finalized
    assert parent.state.sub_workflow_results[child_row.id]["state"]["approved_by"] == "ops"
    assert [(r.scope, r.status) for r in await third.step_history(child_row.id)] == [
        ("Authorize", StepStatus.COMPLETED),
        ("Capture", StepStatus.COMPLETED),
        ("Confirm", StepStatus.COMPLETED),
    ]
    assert fx.JOURNAL == ["reserve", "authorize", "capture", "approved by ops", "finalize"]


async def test_input_given_to_the_waiting_parent_from_a_second_builder_reaches_the_child(
    store: PersistenceProvider, backend: Backend
) -> None:
    defs = (trip(*STANDARD_TRIP), payment(CONFIRM))
    wf = await on(store, *defs).create_workflow("Trip")
    assert await wf.run() is S.WAITING_CHILD_HUMAN_INPUT

    reader = await second(backend)
    parent = await on(reader, *defs).load_workflow(wf.id)
    assert parent.status is S.WAITING_CHILD_HUMAN_INPUT
    await parent.resume({"by": "ann"})
    assert await parent.run() is S.COMPLETED

    check = await second(backend)
    [child_row] = await rows_of(check, "Payment")
    assert child_row.status is S.COMPLETED and free(child_row)
    child = await on(check, *defs).load_workflow(child_row.id)
    assert child.state.approved_by == "ann"
    assert (await check.load_workflow(wf.id)).status is S.COMPLETED
    assert fx.JOURNAL[-2:] == ["approved by ann", "finalize"]


async def test_three_levels_wait_at_the_bottom_and_resume_from_a_second_builder(
    store: PersistenceProvider, backend: Backend
) -> None:
    defs = (trip(*STANDARD_TRIP), payment(BOOK), LEDGER)
    wf = await on(store, *defs).create_workflow("Trip")
    assert await wf.run() is S.WAITING_CHILD_HUMAN_INPUT

    reader = await second(backend)
    [child] = await rows_of(reader, "Payment")
    [grandchild] = await rows_of(reader, "Ledger")
    assert (child.status, grandchild.status) == (S.WAITING_CHILD_HUMAN_INPUT, S.WAITING_HUMAN)
    assert (child.parent_id, grandchild.parent_id) == (wf.id, child.id)
    assert grandchild.idempotency_key == f"{child.id}:Book"
    assert grandchild.metadata["sub_workflow_of"] == child.id
    assert all(free(r) for r in (await reader.load_workflow(wf.id), child, grandchild))

    g = await on(reader, *defs).load_workflow(grandchild.id)
    await g.resume({"by": "cfo"})
    assert g.status is S.COMPLETED

    check = await second(backend)
    statuses = [(await check.load_workflow(i)).status for i in (wf.id, child.id, grandchild.id)]
    assert statuses == [S.COMPLETED, S.COMPLETED, S.COMPLETED]
    parent = await on(check, *defs).load_workflow(wf.id)
    payment_state = parent.state.sub_workflow_results[child.id]["state"]
    assert payment_state["sub_workflow_results"][grandchild.id]["state"]["approved_by"] == "cfo"
    assert fx.JOURNAL == ["reserve", "authorize", "capture", "post", "signed by cfo", "finalize"]


async def test_three_levels_unwind_grandchild_first_across_the_three_journals(
    store: PersistenceProvider, backend: Backend
) -> None:
    fx.FAIL.add("finalize")
    defs = (trip(*STANDARD_TRIP, saga=True), payment(BOOK), LEDGER)
    wf = await on(store, *defs).create_workflow("Trip")
    assert await wf.run() is S.WAITING_CHILD_HUMAN_INPUT
    reader = await second(backend)
    [grandchild] = await rows_of(reader, "Ledger")
    await (await on(reader, *defs).load_workflow(grandchild.id)).resume({"by": "cfo"})

    check = await second(backend)
    [child] = await rows_of(check, "Payment")
    rows = [await check.load_workflow(i) for i in (wf.id, child.id, grandchild.id)]
    assert [r.status for r in rows] == [S.FAILED_ROLLED_BACK] * 3
    assert all(r.saga_mode for r in rows)  # saga mode reaches the grandchild
    journals = [await check.compensation_journal(r.id) for r in rows]
    assert [settled(j) for j in journals] == [
        [("Finalize", C.SKIPPED), ("Pay", C.COMPLETED), ("Reserve", C.COMPLETED)],
        [("Book", C.COMPLETED), ("Capture", C.COMPLETED), ("Authorize", C.COMPLETED)],
        [("Sign", C.SKIPPED), ("Post", C.COMPLETED)],
    ]
    pay = next(e for e in journals[0] if e.scope == "Pay")
    book = next(e for e in journals[1] if e.scope == "Book")
    capture = next(e for e in journals[1] if e.scope == "Capture")
    post = next(e for e in journals[2] if e.scope == "Post")
    assert post.ended_at is not None and book.ended_at is not None
    assert pay.started_at <= book.started_at <= post.started_at
    assert post.ended_at <= book.ended_at <= capture.started_at
    assert fx.JOURNAL[-4:] == ["undo post", "undo capture", "undo authorize", "undo reserve"]


# --- cancel ---------------------------------------------------------------------------------------


async def test_cancelling_the_waiting_parent_from_a_second_builder_cancels_the_child(
    store: PersistenceProvider, backend: Backend
) -> None:
    defs = (trip(*STANDARD_TRIP, saga=True), payment(CONFIRM))
    wf = await on(store, *defs).create_workflow("Trip")
    assert await wf.run() is S.WAITING_CHILD_HUMAN_INPUT

    reader = await second(backend)
    parent = await on(reader, *defs).load_workflow(wf.id)
    assert await parent.cancel("customer left") is S.CANCELLED

    check = await second(backend)
    parent_row = await check.load_workflow(wf.id)
    [child_row] = await rows_of(check, "Payment")
    assert (parent_row.status, child_row.status) == (S.CANCELLED, S.CANCELLED)
    assert free(parent_row) and free(child_row) and parent_row.frames == []
    # each saga undid its own completed steps, the child's first
    assert settled(await check.compensation_journal(child_row.id)) == [
        ("Capture", C.COMPLETED),
        ("Authorize", C.COMPLETED),
    ]
    assert ("Reserve", C.COMPLETED) in settled(await check.compensation_journal(wf.id))
    assert fx.JOURNAL[-3:] == ["undo capture", "undo authorize", "undo reserve"]
    assert "customer left" in (child_row.error.message if child_row.error else "")


# --- failures, retry ------------------------------------------------------------------------------


async def test_a_failed_child_without_saga_is_retried_in_place_by_its_parents_retry(
    store: PersistenceProvider, backend: Backend
) -> None:
    """No saga: the child stops FAILED, its parent FAILED_CHILD_WORKFLOW. retry() of the parent
    from a second builder retries that child from its failed step (no new child)."""
    fx.FAIL.add("capture")
    defs = (trip(*STANDARD_TRIP), payment())
    wf = await on(store, *defs).create_workflow("Trip")
    assert await wf.run() is S.FAILED_CHILD_WORKFLOW

    reader = await second(backend)
    parent_row = await reader.load_workflow(wf.id)
    [first] = await rows_of(reader, "Payment")
    assert parent_row.status is S.FAILED_CHILD_WORKFLOW and free(parent_row)
    assert parent_row.error is not None and parent_row.error.type == "ChildWorkflowFailed"
    assert first.id in parent_row.error.message and "ended FAILED" in parent_row.error.message
    assert (first.status, first.parent_id, first.idempotency_key) == (
        S.FAILED,
        wf.id,
        f"{wf.id}:Pay",
    )
    assert first.error is not None and "capture failed" in first.error.message
    history = await reader.step_history(wf.id)
    assert [(r.scope, r.status) for r in history] == [
        ("Reserve", StepStatus.COMPLETED),
        ("Pay", StepStatus.FAILED),
    ]
    failed = history[1].result  # the failed attempt's record keeps the child
    assert failed is not None
    assert (failed["sub_workflow_id"], failed["sub_workflow_status"]) == (first.id, "FAILED")
    assert await reader.compensation_journal(wf.id) == []

    fx.FAIL.clear()
    again = await on(reader, *defs).load_workflow(wf.id)
    assert await again.retry() is S.COMPLETED

    check = await second(backend)
    [child] = await rows_of(check, "Payment")
    assert (child.id, child.status) == (first.id, S.COMPLETED) and free(child)
    assert [(r.scope, r.status) for r in await check.step_history(first.id)] == [
        ("Authorize", StepStatus.COMPLETED),
        ("Capture", StepStatus.FAILED),
        ("Capture", StepStatus.COMPLETED),
    ]
    parent_history = await check.step_history(wf.id)
    assert [(r.scope, r.status) for r in parent_history] == [
        ("Reserve", StepStatus.COMPLETED),
        ("Pay", StepStatus.FAILED),
        ("Pay", StepStatus.COMPLETED),
        ("Finalize", StepStatus.COMPLETED),
    ]
    assert child_id_of(parent_history, "Pay") == first.id
    parent = await on(check, *defs).load_workflow(wf.id)
    assert parent.status is S.COMPLETED and list(parent.state.sub_workflow_results) == [first.id]
    assert ("FAILED_CHILD_WORKFLOW", "ACTIVE") in await audit(check, wf.id)
    assert (fx.CALLS["reserve"], fx.CALLS["authorize"], fx.CALLS["capture"]) == (1, 1, 2)


async def test_a_child_rolled_back_for_good_is_replaced_on_retry_with_the_next_key(
    store: PersistenceProvider, backend: Backend
) -> None:
    """The child (saga in its own YAML) rolled itself back; its parent (no saga) stops in
    FAILED_CHILD_WORKFLOW. retry() from a second builder starts a new child, key "#1"; the
    first stays as it ended."""
    fx.FAIL.add("capture")
    defs = (trip(*STANDARD_TRIP), payment(saga=True))
    wf = await on(store, *defs).create_workflow("Trip")
    assert await wf.run() is S.FAILED_CHILD_WORKFLOW

    reader = await second(backend)
    [first] = await rows_of(reader, "Payment")
    assert first.status is S.FAILED_ROLLED_BACK and first.idempotency_key == f"{wf.id}:Pay"
    assert settled(await reader.compensation_journal(first.id)) == [
        ("Capture", C.SKIPPED),
        ("Authorize", C.COMPLETED),
    ]
    assert await reader.compensation_journal(wf.id) == []  # the parent has no saga

    fx.FAIL.clear()
    again = await on(reader, *defs).load_workflow(wf.id)
    assert await again.retry() is S.COMPLETED

    check = await second(backend)
    old, new = await rows_of(check, "Payment")
    assert old.id == first.id and old.status is S.FAILED_ROLLED_BACK  # kept as it ended
    assert (new.status, new.parent_id, new.idempotency_key) == (
        S.COMPLETED,
        wf.id,
        f"{wf.id}:Pay#1",
    )
    assert new.metadata["parent_step"] == "Pay" and new.metadata["sub_workflow_of"] == wf.id
    parent_history = await check.step_history(wf.id)
    assert [(r.scope, r.status) for r in parent_history] == [
        ("Reserve", StepStatus.COMPLETED),
        ("Pay", StepStatus.FAILED),
        ("Pay", StepStatus.COMPLETED),
        ("Finalize", StepStatus.COMPLETED),
    ]
    assert child_id_of(parent_history, "Pay") == new.id
    parent = await on(check, *defs).load_workflow(wf.id)
    assert list(parent.state.sub_workflow_results) == [new.id]
    assert fx.CALLS["reserve"] == 1 and fx.CALLS["authorize"] == 2


async def test_a_compensation_failed_child_and_a_retry_of_the_parent_from_a_second_builder(
    store: PersistenceProvider, backend: Backend
) -> None:
    fx.FAIL.update({"finalize", "refund"})
    defs = (trip(*STANDARD_TRIP, saga=True), payment())
    wf = await on(store, *defs).create_workflow("Trip")
    assert await wf.run() is S.COMPENSATION_FAILED

    reader = await second(backend)
    [child_row] = await rows_of(reader, "Payment")
    assert child_row.status is S.COMPENSATION_FAILED and free(child_row)
    parent_journal = await reader.compensation_journal(wf.id)
    assert settled(parent_journal) == [
        ("Finalize", C.SKIPPED),
        ("Pay", C.FAILED),
        ("Reserve", C.COMPLETED),  # the unwind goes on with the others
    ]
    pay = next(e for e in parent_journal if e.scope == "Pay")
    assert pay.error is not None and child_row.id in pay.error.message
    assert settled(await reader.compensation_journal(child_row.id)) == [
        ("Capture", C.FAILED),
        ("Authorize", C.COMPLETED),
    ]

    fx.FAIL.clear()
    again = await on(reader, *defs).load_workflow(wf.id)
    assert await again.retry() is S.FAILED_ROLLED_BACK

    check = await second(backend)
    parent_row = await check.load_workflow(wf.id)
    child_row = await check.load_workflow(child_row.id)
    assert (parent_row.status, child_row.status) == (S.FAILED_ROLLED_BACK, S.FAILED_ROLLED_BACK)
    assert free(parent_row) and free(child_row)
    assert settled(await check.compensation_journal(child_row.id)) == [
        ("Capture", C.FAILED),
        ("Authorize", C.COMPLETED),
        ("Capture", C.COMPLETED),  # the child's failed compensation, run again
    ]
    assert settled(await check.compensation_journal(wf.id)) == [
        ("Finalize", C.SKIPPED),
        ("Pay", C.FAILED),
        ("Reserve", C.COMPLETED),
        ("Pay", C.COMPLETED),
    ]
    assert fx.CALLS["undo capture"] == 2 and fx.CALLS["undo reserve"] == 1
    assert fx.CALLS["undo authorize"] == 1


# --- approvals inside a child ---------------------------------------------------------------------


async def test_a_child_waiting_for_an_approval_of_its_own_unwind_holds_its_parent(
    store: PersistenceProvider, backend: Backend
) -> None:
    """The child fails on its own and its unwind waits for an operator: the parent waits too
    (a person is needed below it); the approval, given from a second builder, finishes the
    child's unwind and then the parent's."""
    fx.FAIL.add("capture")
    defs = (trip(*STANDARD_TRIP, saga=True), payment(approve=True))
    wf = await on(store, *defs).create_workflow("Trip")
    assert await wf.run() is S.WAITING_CHILD_HUMAN_INPUT

    reader = await second(backend)
    [child_row] = await rows_of(reader, "Payment")
    assert child_row.status is S.WAITING_COMPENSATION_APPROVAL
    parent_row = await reader.load_workflow(wf.id)
    assert parent_row.status is S.WAITING_CHILD_HUMAN_INPUT
    assert free(parent_row) and free(child_row)
    other = on(reader, *defs)
    child = await other.load_workflow(child_row.id)
    assert child.waiting_for is not None and child.waiting_for["step"] == "Authorize"
    assert await child.approve_compensation("ann", reason="refund it") is S.FAILED_ROLLED_BACK

    check = await second(backend)
    parent_row = await check.load_workflow(wf.id)
    assert parent_row.status is S.FAILED_ROLLED_BACK and free(parent_row)
    child_journal = await check.compensation_journal(child_row.id)
    assert settled(child_journal) == [("Capture", C.SKIPPED), ("Authorize", C.COMPLETED)]
    assert child_journal[-1].decided_by == "ann"
    assert settled(await check.compensation_journal(wf.id)) == [
        ("Pay", C.SKIPPED),
        ("Reserve", C.COMPLETED),
    ]
    assert fx.JOURNAL == ["reserve", "authorize", "capture", "undo authorize", "undo reserve"]


async def test_a_child_needing_an_approval_while_its_parent_unwinds_and_a_retry_after_it(
    store: PersistenceProvider, backend: Backend
) -> None:
    """The parent unwinds a completed child whose unwind waits for an approval: the parent's
    entry for the step is FAILED, the parent goes on and ends COMPENSATION_FAILED. Once the
    operator approved (second builder), retry() of the parent (third store) finishes it."""
    fx.FAIL.add("finalize")
    defs = (trip(*STANDARD_TRIP, saga=True), payment(approve=True))
    wf = await on(store, *defs).create_workflow("Trip")
    assert await wf.run() is S.COMPENSATION_FAILED

    reader = await second(backend)
    [child_row] = await rows_of(reader, "Payment")
    assert child_row.status is S.WAITING_COMPENSATION_APPROVAL and free(child_row)
    assert settled(await reader.compensation_journal(wf.id)) == [
        ("Finalize", C.SKIPPED),
        ("Pay", C.FAILED),
        ("Reserve", C.COMPLETED),
    ]
    child = await on(reader, *defs).load_workflow(child_row.id)
    assert await child.approve_compensation("ann") is S.FAILED_ROLLED_BACK
    assert (await reader.load_workflow(wf.id)).status is S.COMPENSATION_FAILED

    third = await second(backend)
    again = await on(third, *defs).load_workflow(wf.id)
    assert await again.retry() is S.FAILED_ROLLED_BACK
    check = await second(backend)
    assert settled(await check.compensation_journal(wf.id)) == [
        ("Finalize", C.SKIPPED),
        ("Pay", C.FAILED),
        ("Reserve", C.COMPLETED),
        ("Pay", C.COMPLETED),
    ]
    assert settled(await check.compensation_journal(child_row.id)) == [
        ("Capture", C.COMPLETED),
        ("Authorize", C.COMPLETED),
    ]
    assert fx.JOURNAL[3:] == ["finalize", "undo capture", "undo reserve", "undo authorize"]


# --- a runner that dies while it drives the child -----------------------------------------------

CRASHY = {
    "workflow_type": "Crashy",
    "initial_state_model": "engine_steps.S",
    "steps": [
        {"name": n, "function": "recovery_steps.step", "automate_next": True}
        for n in ("A", "B", "C")
    ],
}
RUN_CRASHY = {
    "name": "Run",
    "type": "SUB_WORKFLOW",
    "workflow_type": "Crashy",
    "initial_data_template": {"note": "{{ state.trip_id }}"},
    "automate_next": True,
}
CRASH_TRIP = trip(
    comp("Reserve", "reserve", "unreserve", automate_next=True),
    RUN_CRASHY,
    comp("Finalize", "finalize"),
)
LEASE = 0.3


async def _died_in_the_child(store: PersistenceProvider, step: str) -> tuple[str, str]:
    """A parent whose runner "died" in the child's ``step``; returns (parent id, child id)
    once the leases have expired."""
    dying = on(store, CRASH_TRIP, CRASHY, lease_seconds=LEASE)
    wf = await dying.create_workflow("Trip")
    KILL["in"] = step
    with pytest.raises(Killed):
        await wf.run()
    KILL["in"] = None
    [child] = await rows_of(store, "Crashy")
    await asyncio.sleep(LEASE + 0.1)
    return wf.id, child.id


async def test_recovery_continues_a_parent_whose_runner_died_in_the_child(
    store: PersistenceProvider, backend: Backend
) -> None:
    parent_id, child_id = await _died_in_the_child(store, "B")
    assert fx.JOURNAL == ["reserve"]

    reader = await second(backend)
    parent_row = await reader.load_workflow(parent_id)
    child_row = await reader.load_workflow(child_id)
    # what the dead runner left: the parent waits for the child (its id in the cursor), the
    # child committed step A; both leases held by the dead runner, expired
    assert parent_row.status is S.PENDING_SUB_WORKFLOW
    assert child_frame(parent_row) == ("Run", child_id)
    assert child_row.status is S.ACTIVE and child_row.current_step == 1
    assert parent_row.lease_owner is not None and child_row.lease_owner is not None
    assert parent_id in await reader.find_recoverable(time.time())

    recovering = on(reader, CRASH_TRIP, CRASHY)
    recovered = await recovering.recover()
    assert parent_id in recovered

    check = await second(backend)
    parent_row = await check.load_workflow(parent_id)
    child_row = await check.load_workflow(child_id)
    assert (parent_row.status, child_row.status) == (S.COMPLETED, S.COMPLETED)
    assert free(parent_row) and free(child_row) and parent_row.frames == []
    assert [(r.scope, r.status) for r in await check.step_history(child_id)] == [
        ("A", StepStatus.COMPLETED),
        ("B", StepStatus.COMPLETED),
        ("C", StepStatus.COMPLETED),
    ]
    assert [(r.scope, r.status) for r in await check.step_history(parent_id)] == [
        ("Reserve", StepStatus.COMPLETED),
        ("Run", StepStatus.COMPLETED),
        ("Finalize", StepStatus.COMPLETED),
    ]
    assert [r.id for r in await check.list_workflows(workflow_type="Crashy")] == [child_id]
    parent = await on(check, CRASH_TRIP, CRASHY).load_workflow(parent_id)
    entry = parent.state.sub_workflow_results[child_id]
    assert entry["state"]["log"] == ["A", "B", "C"] and entry["state"]["note"] == "T1"
    assert fx.JOURNAL == ["reserve", "finalize"]  # the parent's steps ran once each
    assert await audit(check, parent_id) == [
        (None, "ACTIVE"),
        ("ACTIVE", "PENDING_SUB_WORKFLOW"),
        ("PENDING_SUB_WORKFLOW", "ACTIVE"),
        ("ACTIVE", "COMPLETED"),
    ]
    assert await recovering.recover() == []  # nothing left to recover


async def test_recovery_of_a_dead_saga_parent_that_then_fails_unwinds_the_child_first(
    store: PersistenceProvider, backend: Backend
) -> None:
    saga_trip = {**CRASH_TRIP, "saga_mode": True}
    dying = on(store, saga_trip, CRASHY, lease_seconds=LEASE)
    wf = await dying.create_workflow("Trip")
    KILL["in"] = "B"
    with pytest.raises(Killed):
        await wf.run()
    KILL["in"] = None
    [child] = await rows_of(store, "Crashy")
    await asyncio.sleep(LEASE + 0.1)

    fx.FAIL.add("finalize")  # in the recovering process, the parent's last step fails
    reader = await second(backend)
    assert wf.id in await on(reader, saga_trip, CRASHY).recover()

    check = await second(backend)
    parent_row = await check.load_workflow(wf.id)
    child_row = await check.load_workflow(child.id)
    assert child_row.saga_mode  # stored at the child's first commit, before the crash
    assert (parent_row.status, child_row.status) == (S.FAILED_ROLLED_BACK, S.FAILED_ROLLED_BACK)
    assert free(parent_row) and free(child_row)
    assert child_row.error is not None and child_row.error.type == "ParentRolledBack"
    assert [(r.scope, r.status) for r in await check.step_history(child.id)] == [
        ("A", StepStatus.COMPLETED),
        ("B", StepStatus.COMPLETED),
        ("C", StepStatus.COMPLETED),
    ]
    child_journal = await check.compensation_journal(child.id)
    parent_journal = await check.compensation_journal(wf.id)
    assert settled(child_journal) == [("C", C.SKIPPED), ("B", C.SKIPPED), ("A", C.SKIPPED)]
    assert settled(parent_journal) == [
        ("Finalize", C.SKIPPED),
        ("Run", C.COMPLETED),
        ("Reserve", C.COMPLETED),
    ]
    run = next(e for e in parent_journal if e.scope == "Run")
    reserve = next(e for e in parent_journal if e.scope == "Reserve")
    assert run.ended_at is not None
    assert all(
        run.started_at <= e.started_at and (e.ended_at or 0) <= run.ended_at <= reserve.started_at
        for e in child_journal
    )
    assert fx.JOURNAL == ["reserve", "finalize", "undo reserve"]


async def test_recovery_when_the_runner_died_in_the_childs_first_step(
    store: PersistenceProvider, backend: Backend
) -> None:
    parent_id, child_id = await _died_in_the_child(store, "A")

    reader = await second(backend)
    child_row = await reader.load_workflow(child_id)
    parent_row = await reader.load_workflow(parent_id)
    assert parent_row.status is S.PENDING_SUB_WORKFLOW
    assert child_row.status is S.ACTIVE and child_row.current_step == 0
    assert await reader.step_history(child_id) == []
    recovering = on(reader, CRASH_TRIP, CRASHY)
    assert parent_id in await recovering.recover()

    check = await second(backend)
    assert (await check.load_workflow(parent_id)).status is S.COMPLETED
    assert (await check.load_workflow(child_id)).status is S.COMPLETED
    assert [r.id for r in await check.list_workflows(workflow_type="Crashy")] == [child_id]
    assert [r.scope for r in await check.step_history(child_id)] == ["A", "B", "C"]
    assert fx.JOURNAL == ["reserve", "finalize"]


BOXED = {
    "workflow_type": "Boxed",
    "initial_state_model": "hardening_steps.Box",
    "steps": [
        {
            "name": "X",
            "function": "hardening_steps.plain",
            "compensate_function": "hardening_steps.plain",
            "automate_next": True,
        },
        {
            "name": "Y",
            "function": "hardening_steps.plain",
            # the runner dies in its first call: inside the child's unwind
            "compensate_function": "hardening_steps.append_then_abort",
        },
    ],
}
BOX_TRIP = trip(
    comp("Reserve", "reserve", "unreserve", automate_next=True),
    {"name": "Box", "type": "SUB_WORKFLOW", "workflow_type": "Boxed", "automate_next": True},
    comp("Finalize", "finalize"),
    saga=True,
)


async def test_recovery_after_the_runner_died_inside_the_childs_unwind(
    store: PersistenceProvider, backend: Backend
) -> None:
    fx.FAIL.add("finalize")
    wf = await on(store, BOX_TRIP, BOXED, lease_seconds=LEASE).create_workflow("Trip")
    with pytest.raises(Abort):
        await wf.run()
    [child] = await rows_of(store, "Boxed")
    await asyncio.sleep(LEASE + 0.1)

    reader = await second(backend)
    parent_row = await reader.load_workflow(wf.id)
    child_row = await reader.load_workflow(child.id)
    # both were unwinding: the parent inside its entry for Box, the child inside Y's
    assert (parent_row.status, child_row.status) == (S.COMPENSATING, S.COMPENSATING)
    assert [(e.scope, e.status) for e in await reader.compensation_journal(wf.id)] == [
        ("Finalize", C.SKIPPED),
        ("Box", C.STARTED),
    ]
    assert [(e.scope, e.status) for e in await reader.compensation_journal(child.id)] == [
        ("Y", C.STARTED)
    ]
    assert {wf.id, child.id} <= set(await reader.find_recoverable(time.time()))

    recovered = await on(reader, BOX_TRIP, BOXED).recover()
    assert wf.id in recovered

    check = await second(backend)
    parent_row = await check.load_workflow(wf.id)
    child_row = await check.load_workflow(child.id)
    assert (parent_row.status, child_row.status) == (S.FAILED_ROLLED_BACK, S.FAILED_ROLLED_BACK)
    assert free(parent_row) and free(child_row)
    child_journal = await check.compensation_journal(child.id)
    parent_journal = await check.compensation_journal(wf.id)
    assert settled(child_journal) == [("Y", C.COMPLETED), ("X", C.COMPLETED)]
    assert "interrupted" in (child_journal[0].detail or "")
    assert settled(parent_journal) == [
        ("Finalize", C.SKIPPED),
        ("Box", C.COMPLETED),
        ("Reserve", C.COMPLETED),
    ]
    box = parent_journal[1]
    assert box.ended_at is not None and parent_journal[2].started_at >= box.ended_at
    assert all((e.ended_at or 0) <= box.ended_at for e in child_journal)
    boxed = await on(check, BOX_TRIP, BOXED).load_workflow(child.id)
    assert boxed.state.items == ["X", "Y", "Y", "X"]  # forward X, Y; then undo Y, undo X
    assert fx.JOURNAL == ["reserve", "finalize", "undo reserve"]
