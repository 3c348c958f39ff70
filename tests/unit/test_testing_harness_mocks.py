"""TestHarness mocks: what they replace, for whom, and that the engine still treats the mocked
step as the step (recorded, retried, compensated)."""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import pytest
import test_testing_harness_app as app
from test_testing_harness_app import definition, loop, order_flow, registry, step

from ruvon.builder import WorkflowBuilder
from ruvon.errors import DefinitionError, UnknownWorkflowTypeError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import CompensationStatus, StepStatus, WorkflowStatus
from ruvon.testing import StepMock, TestHarness

S = WorkflowStatus
C = CompensationStatus
NO_DELAY = {"max_attempts": 3, "initial_delay": 0}


@pytest.fixture(autouse=True)
def _forget_real_calls() -> None:
    app.REAL_CALLS.clear()


def harness(*definitions: dict[str, Any], **kwargs: Any) -> TestHarness:
    return TestHarness(workflow_registry=registry(*(definitions or (order_flow(),))), **kwargs)


def journal(wf: Any) -> list[tuple[str, str]]:
    return [(e.step_name, e.status.value) for e in wf.compensation_journal]


async def test_mock_step__replaces_the_function_and_records_calls() -> None:
    h = harness()
    mock = h.mock_step("Charge", returns={"charged": True, "charge_id": "MOCK"})
    wf = await h.start_workflow("Order", {"order_id": "A-9"})
    assert await h.next_step(wf.id) == {"charged": True, "charge_id": "MOCK"}
    assert wf.state.charge_id == "MOCK"
    assert app.REAL_CALLS == ["Reserve"]  # the real charge never ran
    assert mock.call_count == 1
    call = mock.calls[0]
    assert (call.workflow_id, call.step_name, call.attempt) == (wf.id, "Charge", 1)
    assert call.state["reservation"] == "R-A-9" and not call.is_compensation


async def test_mock_step__gets_the_user_input() -> None:
    h = harness()
    mock = h.mock_step("Approve", returns={"approved_by": "mock"})
    wf = await h.start_workflow("Order")
    await h.run_all_steps({"Approve": {"by": "ops"}})
    assert mock.calls[0].user_input == {"by": "ops"} and wf.state.approved_by == "mock"


def test_step_mock__each_call_returns_its_own_copy() -> None:
    mock = StepMock(step_name="Log", returns={"undo_log": ["x"]})
    context = SimpleNamespace(workflow_id="wf", step_name="Log", attempt=1, is_compensation=False)
    first = mock(app.Order(), context)  # type: ignore[arg-type]
    first["undo_log"].append("changed by the engine or a test")
    assert mock(app.Order(), context) == {"undo_log": ["x"]}  # type: ignore[arg-type]
    assert mock.returns == {"undo_log": ["x"]} and mock.call_count == 2


async def test_mock_step__applies_to_workflows_started_afterwards_only() -> None:
    h = harness()
    before = await h.start_workflow("Order")
    h.mock_step("Charge", returns={"charge_id": "MOCK"})
    after = await h.start_workflow("Order")
    await h.next_step(before.id)
    await h.next_step(after.id)
    assert before.state.charge_id == "C-A-1" and after.state.charge_id == "MOCK"


async def test_reset_mocks__later_workflows_run_the_real_functions() -> None:
    h = harness()
    h.mock_step("Charge", returns={"charge_id": "MOCK"})
    h.mock_compensation("Reserve", returns={})
    mocked = await h.start_workflow("Order")
    h.reset_mocks()
    real = await h.start_workflow("Order")
    await h.next_step(mocked.id)
    await h.next_step(real.id)
    assert mocked.state.charge_id == "MOCK" and real.state.charge_id == "C-A-1"


async def test_mocks_do_not_leak_into_other_harnesses_or_the_builder() -> None:
    builder = WorkflowBuilder(
        workflow_registry=registry(order_flow()), persistence_provider=InMemoryPersistenceProvider()
    )
    real_charge = builder.get_definition("Order").steps[1].function
    mocking = TestHarness(builder=builder)
    mocking.mock_step("Charge", returns={"charge_id": "MOCK"})
    mocking.mock_compensation("Charge", returns={})
    other = TestHarness(builder=builder)
    mocked = await mocking.start_workflow("Order")
    plain = await other.start_workflow("Order")
    await mocking.next_step()
    await other.next_step()
    assert mocked.state.charge_id == "MOCK" and plain.state.charge_id == "C-A-1"
    shared = builder.get_definition("Order").steps[1]
    assert shared.function is real_charge is app.charge and shared.compensate is app.refund
    direct = await builder.create_workflow("Order")
    await direct.next_step()
    assert direct.state.charge_id == "C-A-1"


async def test_load_workflow__keeps_the_mocks_the_workflow_started_with() -> None:
    h = harness()
    mock = h.mock_step("Ship", returns={"shipped": True, "approved_by": "mock"})
    wf = await h.start_workflow("Order")
    await h.next_step(wf.id)
    await h.next_step(wf.id, user_input={"by": "ops"})
    h.reset_mocks()
    loaded = await h.load_workflow(wf.id)
    await loaded.next_step()
    assert loaded.status == "COMPLETED" and loaded.state.approved_by == "mock"
    assert mock.call_count == 1 and "Ship" not in app.REAL_CALLS


async def test_mocked_step__is_retried_under_its_policy_and_recorded() -> None:
    h = harness(definition(step("Charge", "charge", retry_policy=NO_DELAY)))
    mock = h.mock_step(
        "Charge", returns={"charged": True}, raises=[ConnectionError("down"), TimeoutError, None]
    )
    wf = await h.start_workflow("Order")
    await h.next_step(wf.id)
    assert wf.status == "COMPLETED" and wf.state.charged
    assert [c.attempt for c in mock.calls] == [1, 2, 3]
    assert [(r.attempt, r.status) for r in wf.history] == [
        (1, StepStatus.FAILED),
        (2, StepStatus.FAILED),
        (3, StepStatus.COMPLETED),
    ]
    assert wf.history[1].error is not None and wf.history[1].error.type == "TimeoutError"
    assert "mocked failure of step 'Charge'" in wf.history[1].error.message


async def test_mocked_step__failing_for_good_is_raised_and_compensated_around() -> None:
    h = harness()
    mock = h.mock_step("Charge", raises=ConnectionError("gateway down"))
    wf = await h.start_workflow("Order")
    wf.enable_saga_mode()
    with pytest.raises(ConnectionError, match="gateway down"):
        await h.next_step(wf.id)
    assert mock.call_count == 1  # one attempt: the default policy
    assert wf.status == "FAILED_ROLLED_BACK"
    assert journal(wf) == [("Charge", "SKIPPED"), ("Reserve", "COMPLETED")]


async def test_mocked_step__is_compensated_with_its_mocked_result() -> None:
    h = harness()
    h.mock_step("Charge", returns={"charged": True, "charge_id": "MOCK"})
    undo = h.mock_compensation("Charge", returns={"charged": False})
    wf = await h.start_workflow("Order", {"fail": ["Ship"]})
    wf.enable_saga_mode()
    await h.run_all_steps({"Approve": {"by": "ops"}})
    assert wf.status == "FAILED_ROLLED_BACK"
    assert undo.call_count == 1 and undo.calls[0].is_compensation
    assert undo.calls[0].state["charge_id"] == "MOCK"
    assert not wf.state.charged
    entry = wf.compensation_journal[2]
    assert (entry.step_name, entry.status, entry.result) == (
        "Charge",
        C.COMPLETED,
        {"charged": False},
    )


async def test_mocked_step__its_real_compensation_gets_the_mocks_result() -> None:
    h = harness(
        definition(
            step("Charge", "charge", "refund_recording", automate_next=True),
            step("Ship", "ship"),
        )
    )
    h.mock_step("Charge", returns={"charged": True, "charge_id": "MOCK"})
    app.FORWARD_RESULTS.clear()
    wf = await h.start_workflow("Order", {"fail": ["Ship"]})
    wf.enable_saga_mode()
    with pytest.raises(RuntimeError):
        await h.next_step(wf.id)
    assert app.FORWARD_RESULTS == [{"charged": True, "charge_id": "MOCK"}]
    assert wf.status == "FAILED_ROLLED_BACK" and not wf.state.charged


async def test_mock_compensation__raising_retries_then_fails_the_unwind() -> None:
    h = harness(
        definition(
            step("Reserve", "reserve", "release", automate_next=True, retry_policy=NO_DELAY),
            step("Charge", "charge"),
        )
    )
    undo = h.mock_compensation("Reserve", raises=ConnectionError)
    wf = await h.start_workflow("Order", {"fail": ["Charge"]})
    wf.enable_saga_mode()
    with pytest.raises(RuntimeError, match="Charge failed"):  # the step's failure, not the undo's
        await h.next_step(wf.id)
    assert wf.status == "COMPENSATION_FAILED"
    assert undo.call_count == 3 and wf.state.reserved  # left reserved: the undo failed
    entry = wf.compensation_journal[-1]
    assert entry.status is C.FAILED and entry.attempts == 3
    assert entry.error is not None and entry.error.type == "ConnectionError"
    assert "mocked failure of compensation of step 'Reserve'" in entry.error.message


async def test_mocks_keep_the_kind_of_an_async_step() -> None:
    h = harness(
        definition(
            step("Ship", "ship_async", "unship_async", timeout_seconds=5), step("Fail", "charge")
        )
    )
    h.mock_step("Ship", returns={"shipped": True})
    undo = h.mock_compensation("Ship", returns={"shipped": False})
    wf = await h.start_workflow("Order", {"fail": ["Fail"]})
    mocked = wf.definition.steps[0]
    assert mocked.is_async and inspect.iscoroutinefunction(mocked.function)
    assert mocked.compensate_is_async and inspect.iscoroutinefunction(mocked.compensate)
    wf.enable_saga_mode()
    await h.next_step(wf.id)  # Ship
    with pytest.raises(RuntimeError):
        await h.next_step(wf.id)  # Fail
    assert wf.status == "FAILED_ROLLED_BACK" and undo.call_count == 1 and not wf.state.shipped


async def test_mock_is_scoped_to_a_workflow_type() -> None:
    h = harness(order_flow(), definition(step("Charge", "charge"), wf_type="Other"))
    h.mock_step("Charge", returns={"charge_id": "MOCK"}, workflow_type="Other")
    order = await h.start_workflow("Order")
    other = await h.start_workflow("Other")
    await h.next_step(order.id)
    await h.next_step(other.id)
    assert order.state.charge_id == "C-A-1" and other.state.charge_id == "MOCK"


async def test_a_mock_for_one_type_wins_over_one_for_every_type() -> None:
    h = harness(order_flow(), definition(step("Charge", "charge"), wf_type="Other"))
    h.mock_step("Charge", returns={"charge_id": "OTHER"}, workflow_type="Other")
    h.mock_step("Charge", returns={"charge_id": "ANY"})
    h.mock_step("Charge", returns={"charge_id": "ANY AGAIN"})  # replaces the one before
    order = await h.start_workflow("Order")
    other = await h.start_workflow("Other")
    await h.next_step(order.id)
    await h.next_step(other.id)
    assert (order.state.charge_id, other.state.charge_id) == ("ANY AGAIN", "OTHER")


async def test_mock_for_a_step_nobody_has_is_refused() -> None:
    h = harness()
    with pytest.raises(DefinitionError, match="no workflow has a step named 'Chrage'"):
        h.mock_step("Chrage", returns={})
    with pytest.raises(DefinitionError, match="no workflow has a step with a compensate_function"):
        h.mock_compensation("Approve", returns={})
    with pytest.raises(DefinitionError, match="workflow 'Order' has no step named 'Nope'"):
        h.mock_step("Nope", workflow_type="Order")
    with pytest.raises(UnknownWorkflowTypeError):
        h.mock_step("Charge", workflow_type="Unknown")


async def test_raises_a_class_is_instantiated_with_a_message_naming_the_step() -> None:
    h = harness(definition(step("Charge", "charge")))
    h.mock_step("Charge", raises=LookupError)
    await h.start_workflow("Order")
    with pytest.raises(LookupError, match="mocked failure of step 'Charge'"):
        await h.next_step()


async def test_mocks_reach_the_steps_of_a_loop_body() -> None:
    h = harness(
        definition(
            loop("Items", step("Hold", "hold", "unhold", automate_next=True), automate_next=True),
            step("Charge", "charge"),
        )
    )
    held = h.mock_step("Hold", returns={"reserved": True})
    undo = h.mock_compensation("Hold", returns={"reserved": False})
    wf = await h.start_workflow("Order", {"items": ["a", "b"], "fail": ["Charge"]})
    wf.enable_saga_mode()
    with pytest.raises(RuntimeError, match="Charge failed"):
        await h.next_step(wf.id)
    assert "Hold" not in app.REAL_CALLS and wf.state.held == []
    assert [c.user_input for c in held.calls] == [{"item": "a"}, {"item": "b"}]
    assert undo.call_count == 2 and not wf.state.reserved
    assert wf.status == "FAILED_ROLLED_BACK"
    real = h.builder.get_definition("Order").steps[0].compiled.body[0]
    assert real.function is app.hold and real.compensate is app.unhold  # the builder's own
