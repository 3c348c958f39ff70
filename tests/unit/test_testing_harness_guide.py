"""The calls the Ruvon how-to guide on testing makes, in the shapes it makes them: keyword
``start_workflow`` returning the workflow, ``next_step(workflow.id)`` returning the step's result,
a step's own exception raised with the status recorded, an unwind inside a raising loop, resume
with ``user_input``, reload, async fixtures, a SQLite ``:memory:`` store, many workflows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_testing_harness_app import definition, human, registry, step

from ruvon.implementations.execution.sync import SyncExecutionProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.testing.harness import TestHarness

FLOW = definition(
    step("Reserve", "reserve", "release", automate_next=True),
    step("Charge", "charge", "refund"),
    human("Approve"),
    step("Ship", "ship"),
)


@pytest.fixture
async def harness() -> AsyncIterator[TestHarness]:
    yield TestHarness(workflow_registry=registry(FLOW))


@pytest.fixture
async def sqlite() -> AsyncIterator[SQLitePersistenceProvider]:
    provider = SQLitePersistenceProvider(db_path=":memory:")
    await provider.initialize()
    yield provider
    await provider.close()


async def test_start_with_keywords_then_step_by_id(harness: TestHarness) -> None:
    workflow = await harness.start_workflow(workflow_type="Order", initial_data={"order_id": "O-1"})
    assert workflow.status == "ACTIVE"
    assert workflow.state.order_id == "O-1"
    result = await harness.next_step(workflow.id)
    assert result is not None and result["charged"] is True


async def test_the_steps_own_exception_type_is_raised(harness: TestHarness) -> None:
    workflow = await harness.start_workflow(
        workflow_type="Order", initial_data={"order_id": "O-1", "fail": ["Reserve"]}
    )
    with pytest.raises(RuntimeError):
        await harness.next_step(workflow.id)
    assert workflow.status == "FAILED"


async def test_rollback_inside_a_raising_loop(harness: TestHarness) -> None:
    workflow = await harness.start_workflow(
        workflow_type="Order", initial_data={"order_id": "O-1", "fail": ["Charge"]}
    )
    workflow.enable_saga_mode()
    with pytest.raises(Exception):  # noqa: B017 - the guide's shape
        while workflow.status == "ACTIVE":
            await harness.next_step(workflow.id)
    assert workflow.status == "FAILED_ROLLED_BACK"
    assert workflow.state.reserved is False


async def test_pause_then_resume_with_user_input(harness: TestHarness) -> None:
    workflow = await harness.start_workflow(workflow_type="Order", initial_data={})
    await harness.next_step(workflow.id)
    assert workflow.status.is_waiting
    await harness.next_step(workflow.id, user_input={"by": "test@example.com"})
    assert workflow.status == "ACTIVE"
    assert workflow.state.approved_by == "test@example.com"


async def test_reload_keeps_state_and_cursor(harness: TestHarness) -> None:
    workflow = await harness.start_workflow(workflow_type="Order", initial_data={"order_id": "O-1"})
    await harness.next_step(workflow.id)
    reloaded = await harness.load_workflow(workflow.id)
    assert reloaded.state.order_id == "O-1"
    assert reloaded.current_step == workflow.current_step


async def test_a_harness_on_a_sqlite_memory_store(sqlite: SQLitePersistenceProvider) -> None:
    h = TestHarness(
        workflow_registry=registry(FLOW),
        persistence_provider=sqlite,
        execution_provider=SyncExecutionProvider(),
    )
    workflow = await h.start_workflow("Order", {"order_id": "O-1"})
    await h.run_all_steps({"Approve": {"by": "ops"}})
    stored = await sqlite.load_workflow(workflow.id)
    assert stored.status == "COMPLETED"


async def test_a_hundred_workflows(harness: TestHarness) -> None:
    statuses: list[Any] = []
    for i in range(100):
        workflow = await harness.start_workflow(
            workflow_type="Order", initial_data={"order_id": f"O-{i:03d}"}
        )
        await harness.run_all_steps({"Approve": {"by": "ops"}})
        statuses.append(workflow.status)
    assert statuses == ["COMPLETED"] * 100
