"""TestHarness.check_saga: one run per compensatable step, with a failure injected after it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_testing_harness_app import definition, human, loop, order_flow, registry, step

from ruvon.errors import WorkflowValidationError
from ruvon.models import CompensationStatus, WorkflowStatus
from ruvon.testing import SagaReport, SagaRun, TestHarness

S = WorkflowStatus
C = CompensationStatus
TUTORIAL = Path(__file__).resolve().parents[2] / "examples" / "saga_payment"
PAYMENT = {"order_id": "ORD-1", "customer_id": "CUST-1", "amount": 99.99}


def harness(*definitions: dict[str, Any], **kwargs: Any) -> TestHarness:
    return TestHarness(workflow_registry=registry(*definitions), **kwargs)


def journal(run: SagaRun) -> list[tuple[str, str]]:
    return [(c.step_name, c.status.value) for c in run.compensations]


# --- the seed tutorial ---------------------------------------------------------------------------


@pytest.fixture
def tutorial(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestHarness]:
    """The tutorial project as its reader runs it: its directory current and importable (its
    modules forgotten afterwards)."""
    monkeypatch.syspath_prepend(str(TUTORIAL))
    monkeypatch.chdir(TUTORIAL)
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)
    yield TestHarness()
    for name in [n for n in sys.modules if n.partition(".")[0] == "payment_processor"]:
        del sys.modules[name]


async def test_tutorial__one_run_per_compensated_step_all_rolled_back(
    tutorial: TestHarness,
) -> None:
    report = await tutorial.check_saga("PaymentProcessing", PAYMENT, ignore=["compensations_run"])
    assert [(r.failed_after, r.injected_in) for r in report.runs] == [
        ("Create_Order", "Charge_Payment"),
        ("Charge_Payment", "Reserve_Inventory"),
        ("Reserve_Inventory", "Create_Shipment"),
        ("Create_Shipment", None),  # the last step: the failure comes after it
    ]
    assert all(r.injected and r.status is S.FAILED_ROLLED_BACK for r in report.runs)
    assert journal(report.run_after("Reserve_Inventory")) == [
        ("Create_Shipment", "SKIPPED"),  # the failing step: compensate_on_failure is not set
        ("Reserve_Inventory", "COMPLETED"),
        ("Charge_Payment", "COMPLETED"),
        ("Create_Order", "COMPLETED"),
    ]
    assert journal(report.run_after("Create_Shipment")) == [
        ("Create_Shipment", "COMPLETED"),  # cancel_shipment runs only here
        ("Reserve_Inventory", "COMPLETED"),
        ("Charge_Payment", "COMPLETED"),
        ("Create_Order", "COMPLETED"),
    ]


async def test_tutorial__reports_exactly_the_fields_its_compensations_leave_set(
    tutorial: TestHarness,
) -> None:
    # the compensations reset the flags (order_created, payment_charged, inventory_reserved,
    # shipment_created) but none resets the references the steps stored, and the last one to
    # run (cancel_order) leaves workflow_status at "order_canceled"
    report = await tutorial.check_saga("PaymentProcessing", PAYMENT, ignore=["compensations_run"])
    assert {r.failed_after: r.unrestored_fields for r in report.runs} == {
        "Create_Order": ("order_reference", "workflow_status"),
        "Charge_Payment": (
            "order_reference",
            "transaction_id",
            "payment_method",
            "workflow_status",
        ),
        "Reserve_Inventory": (
            "order_reference",
            "transaction_id",
            "payment_method",
            "reservation_id",
            "workflow_status",
        ),
        "Create_Shipment": (
            "order_reference",
            "transaction_id",
            "payment_method",
            "reservation_id",
            "tracking_number",
            "workflow_status",
        ),
    }
    change = {c.field: c for c in report.run_after("Create_Shipment").unrestored}
    assert change["order_reference"].before is None
    assert change["order_reference"].after.startswith("ORD-")
    assert (change["workflow_status"].before, change["workflow_status"].after) == (
        "pending",
        "order_canceled",
    )
    assert not report.ok and not any(r.ok for r in report.runs)


async def test_tutorial__history_field_is_reported_unless_ignored(tutorial: TestHarness) -> None:
    report = await tutorial.check_saga("PaymentProcessing", PAYMENT)
    change = {c.field: c for c in report.run_after("Charge_Payment").unrestored}
    assert change["compensations_run"].after == ["refund_payment", "cancel_order"]
    everything_else = (
        "compensations_run",
        "workflow_status",
        "order_reference",
        "transaction_id",
        "payment_method",
        "reservation_id",
        "tracking_number",
    )
    quiet = await tutorial.check_saga("PaymentProcessing", PAYMENT, ignore=everything_else)
    assert quiet.ok and all(r.ok for r in quiet.runs)  # the flags all came back to False


async def test_tutorial__definitions_and_the_last_workflow_are_left_alone(
    tutorial: TestHarness,
) -> None:
    wf = await tutorial.start_workflow("PaymentProcessing", PAYMENT)
    before = tutorial.builder.get_definition("PaymentProcessing")
    steps = [(s.name, s.function, s.compensate) for s in before.steps]
    await tutorial.check_saga("PaymentProcessing", PAYMENT)
    after = tutorial.builder.get_definition("PaymentProcessing")
    assert after is before and [(s.name, s.function, s.compensate) for s in after.steps] == steps
    assert tutorial.workflow is wf and wf.status is S.ACTIVE
    await tutorial.next_step(wf.id)
    assert wf.status is S.COMPLETED  # no injected failure in workflows started normally


# --- a workflow with a step that has no compensation and a compensation that fails ---------------


def flawed() -> dict[str, Any]:
    return definition(
        step("Reserve", "reserve", "release", automate_next=True),
        step("Charge", "charge", "refund_fails", automate_next=True),
        step("Notify", "notify", automate_next=True),
        step("Ship", "ship", "unship"),
    )


async def test_flawed__failed_compensation_and_uncompensated_step_are_reported() -> None:
    h = harness(flawed())
    report = await h.check_saga("Order", {}, ignore=("undo_log",))
    assert all(h.executor.pop(r.workflow_id) is None for r in report.runs)  # nothing kept
    assert [r.failed_after for r in report.runs] == ["Reserve", "Charge", "Ship"]  # not Notify

    first = report.run_after("Reserve")
    assert first.ok and first.status is S.FAILED_ROLLED_BACK
    assert journal(first) == [("Charge", "SKIPPED"), ("Reserve", "COMPLETED")]
    assert first.unrestored == ()

    second = report.run_after("Charge")
    assert second.status is S.COMPENSATION_FAILED and not second.ok
    assert journal(second) == [
        ("Notify", "SKIPPED"),
        ("Charge", "FAILED"),
        ("Reserve", "COMPLETED"),
    ]
    failed = second.compensations[1]
    assert failed.error == "ConnectionError: refund service down" and failed.attempts == 1
    assert second.compensations_ran == ("Charge", "Reserve")
    assert second.unrestored_fields == ("charged", "charge_id")

    last = report.run_after("Ship")
    assert last.injected_in is None and last.status is S.COMPENSATION_FAILED
    assert journal(last) == [
        ("Ship", "COMPLETED"),
        ("Notify", "SKIPPED"),  # no compensate_function
        ("Charge", "FAILED"),
        ("Reserve", "COMPLETED"),
    ]
    assert last.compensations[1].detail == "no compensate_function"
    assert last.unrestored_fields == ("charged", "charge_id", "notified")
    assert not report.ok


async def test_flawed__str_reads_as_a_report() -> None:
    report = await harness(flawed()).check_saga("Order", {}, ignore=("undo_log",))
    assert str(report) == "\n".join(
        [
            "check_saga Order 1: 3 runs, 2 not ok",
            "ignored fields: undo_log",
            "",
            "after Reserve (failure injected in Charge): FAILED_ROLLED_BACK",
            "  compensations: Charge SKIPPED, Reserve COMPLETED",
            "  every field restored",
            "",
            "after Charge (failure injected in Notify): COMPENSATION_FAILED",
            "  compensations: Notify SKIPPED, Charge FAILED (ConnectionError: refund service "
            "down), Reserve COMPLETED",
            "  not restored: charged: False -> True; charge_id: None -> 'C-A-1'",
            "",
            "after Ship (failure injected after the last step): COMPENSATION_FAILED",
            "  compensations: Ship COMPLETED, Notify SKIPPED, Charge FAILED (ConnectionError: "
            "refund service down), Reserve COMPLETED",
            "  not restored: charged: False -> True; charge_id: None -> 'C-A-1'; notified: False "
            "-> True",
        ]
    )


# --- how runs are driven -------------------------------------------------------------------------


async def test_a_jump_past_the_injected_step_is_reported_as_not_reached() -> None:
    report = await harness(
        definition(
            step("Reserve", "skip_to_ship", "release", automate_next=True),
            step("Charge", "charge", "refund", automate_next=True),
            step("Ship", "ship"),
        )
    ).check_saga("Order", {})
    first, second = report.runs
    assert (first.completed, first.injected, first.status) == (True, False, S.COMPLETED)
    assert "not checked: the run did not get to the injected failure" in str(report)
    # Charge never ran: the failure put after it (in Ship) does not count as reached
    assert (second.completed, second.injected) == (False, False)
    assert second.failure is not None and second.failure.type == "InjectedFailure"
    # and the report says so, without calling the failure it names "not reached"
    assert (
        "not checked: Charge did not run in this run; the run then ended with InjectedFailure"
        in (str(report))
    )
    assert not first.ok and not second.ok


async def test_a_run_that_fails_on_its_own_first_says_where() -> None:
    report = await harness(order_flow()).check_saga(
        "Order", {"fail": ["Reserve"]}, inputs={"Approve": {"by": "ops"}}
    )
    run = report.run_after("Charge")
    assert not run.completed and not run.injected
    assert run.failure is not None and run.failure.step == "Reserve"
    lines = "\n".join(run.lines())
    assert "the run then ended with RuntimeError in Reserve: Reserve failed" in lines


async def test_inputs_are_given_to_steps_that_wait_for_them() -> None:
    h = harness(order_flow())
    without = await h.check_saga("Order", {}, ignore=["undo_log"])
    # Approve (input_model) is where the failure after Charge goes: it fails without waiting
    assert without.run_after("Charge").injected
    stuck = without.run_after("Ship")
    assert stuck.status is S.PAUSED and not stuck.completed and not stuck.ok
    given = await h.check_saga("Order", {}, ignore=["undo_log"], inputs={"Approve": {"by": "x"}})
    run = given.run_after("Ship")
    assert run.injected and run.status is S.FAILED_ROLLED_BACK
    assert run.unrestored_fields == ("charge_id", "approved_by")  # refund leaves charge_id


async def test_a_loop_whose_body_compensates_gets_a_run() -> None:
    report = await harness(
        definition(
            step("Reserve", "reserve", "release", automate_next=True),
            loop("Items", step("Hold", "hold", "unhold", automate_next=True), automate_next=True),
            step("Charge", "charge"),
        )
    ).check_saga("Order", {"items": ["a", "b"]}, ignore=["undo_log"])
    assert [(r.failed_after, r.injected_in) for r in report.runs] == [
        ("Reserve", "Items"),  # the loop fails before its first iteration
        ("Items", "Charge"),
    ]
    run = report.run_after("Items")
    assert run.ok and run.compensations_ran == ("Hold", "Hold", "Reserve")
    assert "compensations: Charge SKIPPED, Items/iter:1/Hold COMPLETED, Items/iter:0/Hold " in (
        str(report)
    )


async def test_a_human_step_after_the_compensated_one_fails_without_waiting() -> None:
    report = await harness(
        definition(step("Reserve", "reserve", "release", automate_next=True), human("Approve"))
    ).check_saga("Order", {}, ignore=["undo_log"])
    (run,) = report.runs
    assert run.injected_in == "Approve" and run.injected and run.ok


async def test_compensations_that_need_approval_are_approved() -> None:
    h = harness(
        definition(
            step("Reserve", "reserve", "release", compensation_requires_approval=True),
            step("Charge", "charge"),
        )
    )
    report = await h.check_saga("Order", {}, ignore=["undo_log"])
    (run,) = report.runs
    assert run.ok and journal(run) == [("Charge", "SKIPPED"), ("Reserve", "COMPLETED")]
    stored = await h.compensation_journal(run.workflow_id)
    assert stored[-1].decided_by == "check_saga"


async def test_the_injected_step_is_not_retried() -> None:
    h = harness(
        definition(
            step("Reserve", "reserve", "release", automate_next=True),
            step("Charge", "charge", retry_policy={"max_attempts": 5, "initial_delay": 10}),
        )
    )
    (run,) = (await h.check_saga("Order", {}, ignore=["undo_log"])).runs
    assert run.ok


async def test_async_steps_and_compensations() -> None:
    report = await harness(
        definition(step("Ship", "ship_async", "unship_async", timeout_seconds=5))
    ).check_saga("Order", {}, ignore=["undo_log"])
    assert report.ok and journal(report.runs[0]) == [("Ship", "COMPLETED")]


async def test_mocks_apply_to_the_runs() -> None:
    h = harness(order_flow())
    charge = h.mock_step("Charge", returns={"charged": True, "charge_id": "MOCK"})
    report = await h.check_saga("Order", {}, ignore=["undo_log"], inputs={"Approve": {"by": "x"}})
    assert charge.call_count == 2  # the runs after Charge and after Ship; not after Reserve
    change = report.run_after("Charge").unrestored[0]
    assert (change.field, change.after) == ("charge_id", "MOCK")


async def test_nothing_to_check_without_compensations() -> None:
    report = await harness(definition(step("Ship", "ship"))).check_saga("Order")
    assert isinstance(report, SagaReport) and report.runs == () and report.ok
    assert str(report) == "check_saga Order 1: no step has a compensate_function, nothing to check"


async def test_ignore__a_string_is_one_field_and_unknown_fields_are_refused() -> None:
    h = harness(definition(step("Reserve", "reserve", "release"), step("Charge", "charge")))
    assert (await h.check_saga("Order", {}, ignore="undo_log")).ok
    with pytest.raises(WorkflowValidationError, match="'undo_lgo'"):
        await h.check_saga("Order", {}, ignore=["undo_lgo"])


async def test_run_after_an_unknown_step_raises() -> None:
    report = await harness(flawed()).check_saga("Order")
    with pytest.raises(KeyError, match="runs after: Reserve, Charge, Ship"):
        report.run_after("Notify")


async def test_bad_initial_data_raises() -> None:
    with pytest.raises(WorkflowValidationError):
        await harness(flawed()).check_saga("Order", {"reserved": "not a bool"})
