"""DECISION, HUMAN_IN_LOOP and LOOP on every store: each workflow is read back through a second
store on the same database (another process would see the same), then resumed from there."""

from __future__ import annotations

from typing import Any

from contract_backends import Backend

import flow_steps
from flow_support import registry, step
from ruvon.builder import WorkflowBuilder
from ruvon.models import CompensationStatus as C
from ruvon.models import StepStatus
from ruvon.providers.persistence import PersistenceProvider
from ruvon.status import WorkflowStatus as S


def on(store: PersistenceProvider, reg: dict[str, Any]) -> WorkflowBuilder:
    return WorkflowBuilder(workflow_registry=reg, persistence_provider=store)


ORDER = registry(
    step(
        "Check",
        "flow_steps.check",
        type="DECISION",
        routes=[{"condition": "state.amount > 1000", "target": "Approve"}, {"default": "Items"}],
    ),
    step(
        "Approve", "flow_steps.take_input", type="HUMAN_IN_LOOP", input_model="flow_steps.Approval"
    ),
    step(
        "Items",
        None,
        type="LOOP",
        iterate_over="state.items",
        loop_body=[step("Reserve", "flow_steps.reserve", compensate_function="flow_steps.release")],
    ),
    step("Ship"),
    saga=True,
)


async def test_decision_human_and_loop_through_two_stores(
    store: PersistenceProvider, backend: Backend
) -> None:
    first = on(store, ORDER)
    wf = await first.create_workflow("F", {"amount": 5000, "items": ["a", "b"]})
    await wf.next_step()
    assert (wf.status, wf.current_step_name) == (S.WAITING_HUMAN, "Approve")

    other = backend.new_store()
    await other.initialize()
    second = on(other, ORDER)
    waiting = await second.load_workflow(wf.id)
    assert waiting.status is S.WAITING_HUMAN
    assert waiting.waiting_for is not None and waiting.waiting_for["step"] == "Approve"
    await waiting.resume({"approved": True, "reviewer": "ann"})
    assert waiting.status is S.COMPLETED
    assert waiting.state.log == ["Check", "Approve", "Reserve:a", "Reserve:b", "Ship"]

    done = await first.load_workflow(wf.id)
    assert done.status is S.COMPLETED and done.frames == []
    history = await store.step_history(wf.id)
    assert [(r.scope, r.status, r.item) for r in history] == [
        ("Check", StepStatus.COMPLETED, None),
        ("Approve", StepStatus.COMPLETED, None),
        ("Items/iter:0/Reserve", StepStatus.COMPLETED, "a"),
        ("Items/iter:1/Reserve", StepStatus.COMPLETED, "b"),
        ("Items", StepStatus.COMPLETED, None),
        ("Ship", StepStatus.COMPLETED, None),
    ]


async def test_a_later_failure_unwinds_through_the_loop_and_the_chosen_branch(
    store: PersistenceProvider, backend: Backend
) -> None:
    b = on(store, ORDER)
    wf = await b.create_workflow("F", {"amount": 10, "items": ["a", "b"], "fail_at": ["Ship"]})
    await wf.run()
    assert wf.status is S.FAILED_ROLLED_BACK
    reader = backend.new_store()
    await reader.initialize()
    journal = await reader.compensation_journal(wf.id)
    settled = [(e.scope, e.status) for e in journal if e.status is not C.STARTED]
    assert settled == [
        ("Ship", C.SKIPPED),
        ("Items/iter:1/Reserve", C.COMPLETED),
        ("Items/iter:0/Reserve", C.COMPLETED),
        ("Check", C.SKIPPED),
    ]
    loaded = await on(reader, ORDER).load_workflow(wf.id)
    assert loaded.state.reserved == []


async def test_a_loop_waiting_inside_an_iteration_resumes_from_another_store(
    store: PersistenceProvider, backend: Backend
) -> None:
    reg = registry(
        step(
            "Items",
            None,
            type="LOOP",
            iterate_over="state.items",
            loop_body=[
                step("Reserve", "flow_steps.reserve"),
                step("Review", None, type="HUMAN_IN_LOOP"),
            ],
        ),
    )
    wf = await on(store, reg).create_workflow("F", {"items": ["a", "b"]})
    await wf.next_step()
    assert wf.status is S.WAITING_HUMAN
    row = await store.load_workflow(wf.id)
    [frame] = row.frames
    assert (frame["kind"], frame["scope"], frame["iteration"], frame["body"]) == (
        "loop",
        "Items",
        0,
        1,
    )
    other = backend.new_store()
    await other.initialize()
    again = await on(other, reg).load_workflow(wf.id)
    await again.resume({"note": "first"})
    await again.resume({"note": "second"})
    assert again.status is S.COMPLETED and again.state.note == "second"
    assert again.state.log == ["Reserve:a", "Reserve:b"]


async def test_a_cancel_request_reaches_a_runner_between_loop_iterations(
    store: PersistenceProvider,
) -> None:
    flow_steps.CONTEXTS.clear()
    reg = registry(
        step(
            "Items",
            None,
            type="LOOP",
            iterate_over="state.items",
            loop_body=[
                step("Reserve", "flow_steps.reserve", compensate_function="flow_steps.release")
            ],
        ),
        saga=True,
    )
    b = on(store, reg)
    wf = await b.create_workflow("F", {"items": ["a", "b", "c"]})
    await wf.acquire()  # this object holds the lease, as a runner in another process would
    operator = await b.load_workflow(wf.id)
    assert await operator.cancel("stop") is S.ACTIVE  # recorded: another runner holds it
    await wf.next_step()
    assert wf.status is S.CANCELLED
    # the request came back with the first commit: at most one iteration ran, then undone
    assert wf.state.reserved == []
    assert len([c for c in flow_steps.CONTEXTS if c[0] == "Reserve"]) <= 1


async def test_approval_before_compensating_a_loop_iteration_and_a_chosen_branch(
    store: PersistenceProvider, backend: Backend
) -> None:
    """The unwind stops before each step that needs approval, inside a loop too; the decision
    is taken in another process (a second store); who, when and why stay in the journal."""
    reg = registry(
        step(
            "Check",
            None,
            type="DECISION",
            routes=[{"condition": "amount > 100", "target": "Big"}, {"default": "Items"}],
        ),
        step("Big", compensate_function="flow_steps.undo", compensation_requires_approval=True),
        step(
            "Items",
            None,
            type="LOOP",
            iterate_over="state.items",
            loop_body=[
                step(
                    "Reserve",
                    "flow_steps.reserve",
                    compensate_function="flow_steps.release",
                    compensation_requires_approval=True,
                )
            ],
        ),
        step("Ship"),
        saga=True,
    )
    wf = await on(store, reg).create_workflow(
        "F", {"amount": 500, "items": ["a", "b"], "fail_at": ["Ship"]}
    )
    await wf.run()
    assert wf.status is S.WAITING_COMPENSATION_APPROVAL
    assert wf.waiting_for is not None and wf.waiting_for["scope"] == "Items/iter:1/Reserve"

    other = backend.new_store()
    await other.initialize()
    b2 = on(other, reg)
    again = await b2.load_workflow(wf.id)
    assert await again.approve_compensation("ann", reason="stock goes back") is (
        S.WAITING_COMPENSATION_APPROVAL
    )
    assert again.waiting_for is not None and again.waiting_for["scope"] == "Items/iter:0/Reserve"
    third = await on(store, reg).load_workflow(wf.id)  # and back in the first process
    await third.reject_compensation("bo", reason="kept for the next order")
    assert third.waiting_for is not None and third.waiting_for["step"] == "Big"
    await third.approve_compensation("cy")
    assert third.status is S.COMPENSATION_FAILED  # one compensation was rejected
    journal = await store.compensation_journal(wf.id)
    decided = [
        (e.scope, e.status, e.decided_by, e.detail)
        for e in journal
        if e.decided_by is not None and e.status is not C.STARTED
    ]
    assert decided == [
        (
            "Items/iter:1/Reserve",
            C.COMPLETED,
            "ann",
            "compensation approved by ann: stock goes back",
        ),
        (
            "Items/iter:0/Reserve",
            C.REJECTED,
            "bo",
            "compensation rejected by bo: kept for the next order",
        ),
        ("Big", C.COMPLETED, "cy", "compensation approved by cy"),
    ]
    assert all(e.started_at > 0 for e in journal)  # when each was decided
    assert third.state.reserved == ["a"]  # the rejected iteration keeps its reservation
