import pytest

from ruvon.testing import TestHarness


async def test_a_failing_step_raises_its_exception(harness, order):
    charge = harness.mock_step("Charge_Card", raises=ConnectionError("gateway down"))
    workflow = await harness.start_workflow("OrderFlow", order)

    with pytest.raises(ConnectionError, match="gateway down"):
        await harness.next_step(workflow.id)

    assert workflow.status == "FAILED"  # no saga mode: nothing undone
    assert workflow.error.step == "Charge_Card"
    assert charge.call_count == 3  # the step's retry_policy still applies


async def test_a_flaky_gateway_is_retried(harness, order):
    harness.mock_step(
        "Charge_Card",
        returns={"charged": True, "charge_id": "CH-TEST"},
        raises=[ConnectionError("timeout"), None],  # fail once, then return `returns`
    )
    workflow = await harness.start_workflow("OrderFlow", order)
    await harness.next_step(workflow.id)
    assert workflow.state.charge_id == "CH-TEST"
    attempts = [r.status for r in workflow.history if r.step_name == "Charge_Card"]
    assert attempts == ["FAILED", "COMPLETED"]


async def test_saga_mode_releases_the_stock(harness, order):
    harness.mock_step("Charge_Card", raises=ConnectionError("gateway down"))
    workflow = await harness.start_workflow("OrderFlow", order)
    workflow.enable_saga_mode()

    with pytest.raises(ConnectionError):
        await harness.next_step(workflow.id)

    assert workflow.status == "FAILED_ROLLED_BACK"
    assert not workflow.state.stock_reserved
    journal = await harness.compensation_journal(workflow.id)
    assert [(e.step_name, e.status) for e in journal] == [
        ("Charge_Card", "SKIPPED"),  # the failing step itself
        ("Reserve_Stock", "COMPLETED"),
    ]


async def test_a_refund_that_fails(harness, order):
    harness.mock_step("Ship", raises=RuntimeError("carrier down"))
    refund = harness.mock_compensation("Charge_Card", raises=ConnectionError("refund refused"))
    workflow = await harness.start_workflow("OrderFlow", order)
    workflow.enable_saga_mode()

    status = await harness.run_all_steps({"Approve": {"approved_by": "ops@example.com"}})

    assert status == "COMPENSATION_FAILED"
    assert refund.call_count == 3  # retried under Charge_Card's retry_policy
    assert workflow.state.charged  # still charged: someone must look at it
    assert not workflow.state.stock_reserved  # the unwind went on


async def test_without_raising_the_failure_is_only_in_the_workflow(order):
    harness = TestHarness(raise_on_failure=False)
    harness.mock_step("Charge_Card", raises=ConnectionError("gateway down"))
    workflow = await harness.start_workflow("OrderFlow", order)

    assert await harness.next_step(workflow.id) is None
    assert workflow.status == "FAILED"
    assert workflow.error.type == "ConnectionError"
