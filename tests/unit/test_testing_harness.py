"""TestHarness: discovery, starting, advancing, loading, failures, journal, properties."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from test_testing_harness_app import (
    definition,
    human,
    order_flow,
    registry,
    step,
    write_config,
)

import ruvon.testing
import ruvon.testing.harness
from ruvon.builder import WorkflowBuilder
from ruvon.errors import (
    IllegalOperationError,
    StepResultError,
    UnknownWorkflowTypeError,
    WorkflowFinishedError,
)
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import StepStatus, WorkflowStatus
from ruvon.providers.execution import StepCall
from ruvon.providers.observer import EventKind, WorkflowEvent
from ruvon.testing import TestHarness, WorkflowTestHarness

S = WorkflowStatus
NEW_ORDER = {"order_id": "A-7"}


def harness(*definitions: dict[str, Any], **kwargs: Any) -> TestHarness:
    return TestHarness(workflow_registry=registry(*(definitions or (order_flow(),))), **kwargs)


# --- construction and discovery ------------------------------------------------------------------


def test_names__one_class_under_every_documented_name() -> None:
    assert ruvon.testing.TestHarness is ruvon.testing.harness.TestHarness
    assert WorkflowTestHarness is TestHarness
    assert TestHarness.__test__ is False  # pytest does not try to collect it from users' tests


async def test_no_arguments__finds_config_dir_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, order_flow(), definition(step("Only", "ship"), wf_type="Other"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)
    h = TestHarness()
    assert h.builder.registry.types() == WorkflowBuilder().registry.types() == ["Order", "Other"]
    wf = await h.start_workflow("Order", NEW_ORDER)
    await h.run_all_steps({"Approve": {"by": "ops"}})
    assert wf.status == "COMPLETED"


async def test_no_arguments__uses_the_registry_file_when_config_has_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, order_flow(), definition(step("Only", "ship"), wf_type="Other"))
    (config / "workflow_registry.yaml").write_text(
        "workflows:\n  - type: Other\n    config_file: other.yaml\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)
    h = TestHarness()
    assert h.builder.registry.types() == ["Other"]  # the registry lists only Other
    with pytest.raises(UnknownWorkflowTypeError):
        await h.start_workflow("Order")


async def test_no_arguments__honours_ruvon_config_dir_like_the_builder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "elsewhere", order_flow())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUVON_CONFIG_DIR", os.fspath(config))
    assert TestHarness().builder.registry.types() == ["Order"]


async def test_config_dir_argument(tmp_path: Path) -> None:
    h = TestHarness(config_dir=write_config(tmp_path, order_flow()))
    wf = await h.start_workflow("Order")
    assert wf.workflow_type == "Order"


async def test_registry_path_argument(tmp_path: Path) -> None:
    config = write_config(tmp_path, order_flow())
    (config / "reg.yaml").write_text("Order: order.yaml\n")
    wf = await TestHarness(workflow_registry=config / "reg.yaml").start_workflow("Order")
    assert wf.workflow_type == "Order"


async def test_given_builder__its_definitions_are_used() -> None:
    builder = WorkflowBuilder(workflow_registry=registry(order_flow()))
    h = TestHarness(builder=builder)
    assert h.builder is builder
    wf = await h.start_workflow("Order")
    assert wf.definition.snapshot is builder.get_definition("Order").snapshot


def test_builder_and_registry_together_are_refused() -> None:
    with pytest.raises(TypeError, match="not both"):
        TestHarness(builder=WorkflowBuilder(), config_dir="config")


async def test_defaults__in_memory_store_and_sync_executor() -> None:
    h = harness()
    assert isinstance(h.persistence, InMemoryPersistenceProvider)
    assert isinstance(h.executor.inner, SyncExecutor)
    wf = await h.start_workflow("Order")
    assert wf.persistence is h.persistence


async def test_given_store_and_executor_are_used() -> None:
    calls: list[str] = []

    class Recording(SyncExecutor):
        async def execute(self, call: StepCall) -> Any:
            calls.append(call.context.step_name)
            return await super().execute(call)

    store = InMemoryPersistenceProvider()
    h = harness(persistence_provider=store, execution_provider=Recording())
    wf = await h.start_workflow("Order")
    await h.next_step(wf.id)
    assert calls == ["Reserve", "Charge"]
    assert (await store.load_workflow(wf.id)).status is S.PAUSED


async def test_given_observer_gets_the_events() -> None:
    events: list[tuple[str, str | None]] = []

    class Recorder:
        def wants(self, kind: EventKind) -> bool:
            return True

        async def on_event(self, event: WorkflowEvent) -> None:
            events.append((event.kind.value, event.step_name))

    h = harness(definition(step("Only", "ship")), workflow_observer=Recorder())
    await h.start_workflow("Order")
    await h.next_step()
    assert ("step_completed", "Only") in events and events[-1][0] == "workflow_completed"


# --- start_workflow / next_step / load_workflow --------------------------------------------------


async def test_start_workflow__returns_the_live_workflow_not_yet_run() -> None:
    h = harness()
    wf = await h.start_workflow("Order", NEW_ORDER)
    assert wf.status == "ACTIVE" and wf.current_step == 0
    assert wf.state.order_id == "A-7" and not wf.state.reserved
    assert (await h.persistence.load_workflow(wf.id)).status is S.ACTIVE


async def test_start_workflow__passes_builder_options() -> None:
    h = harness()
    first = await h.start_workflow("Order", NEW_ORDER, idempotency_key="k", owner_id="me")
    again = await h.start_workflow("Order", NEW_ORDER, idempotency_key="k")
    assert again is first and first.owner_id == "me"


async def test_next_step__returns_the_result_and_advances_the_same_object() -> None:
    h = harness()
    wf = await h.start_workflow("Order", NEW_ORDER)
    result = await h.next_step(wf.id)
    assert result == {"charged": True, "charge_id": "C-A-7"}  # the last step the call ran
    assert wf.status == "PAUSED" and wf.current_step_name == "Approve"
    assert wf.waiting_for is not None and wf.waiting_for["step"] == "Approve"
    assert await h.next_step(wf.id, user_input={"by": "ops"}) == {"approved_by": "ops"}
    assert wf.status == "ACTIVE" and wf.state.approved_by == "ops"
    while wf.status == "ACTIVE":
        await h.next_step(wf.id)
    assert wf.status == "COMPLETED" and wf.state.shipped


async def test_next_step__defaults_to_the_last_started_and_accepts_the_workflow() -> None:
    h = harness()
    first = await h.start_workflow("Order")
    second = await h.start_workflow("Order")
    await h.next_step()
    assert second.status == "PAUSED" and first.status == "ACTIVE"
    await h.next_step(first)
    assert first.status == "PAUSED"
    loaded = await h.load_workflow(first.id)
    await h.next_step(loaded, user_input={"by": "ops"})  # the object given is the one advanced
    assert loaded.status == "ACTIVE" and loaded.state.approved_by == "ops"
    await h.next_step(first.id)  # and it stays the one advanced for that id
    assert loaded.status == "COMPLETED" and first.status == "PAUSED"


async def test_next_step__a_workflow_started_elsewhere_in_the_store_is_loaded() -> None:
    h = harness()
    builder = WorkflowBuilder(workflow_registry=registry(order_flow()))
    wf = await builder.create_workflow("Order", NEW_ORDER, persistence_provider=h.persistence)
    await h.next_step(wf.id)
    loaded = await h.load_workflow(wf.id)
    assert loaded.status == "PAUSED" and loaded.state.charged


async def test_next_step__on_a_finished_workflow_raises_the_engines_error() -> None:
    h = harness(definition(step("Only", "ship")))
    wf = await h.start_workflow("Order")
    await h.next_step(wf.id)
    with pytest.raises(WorkflowFinishedError):
        await h.next_step(wf.id)


async def test_load_workflow__reads_what_was_persisted_into_a_new_object() -> None:
    h = harness()
    wf = await h.start_workflow("Order", NEW_ORDER)
    await h.next_step(wf.id)
    loaded = await h.load_workflow(wf.id)
    assert loaded is not wf
    assert loaded.state == wf.state and loaded.current_step == wf.current_step == 2
    assert loaded.status is S.PAUSED
    assert [r.step_name for r in loaded.history] == ["Reserve", "Charge"]


async def test_unknown_workflow_type_raises() -> None:
    with pytest.raises(UnknownWorkflowTypeError):
        await harness().start_workflow("Nope")


# --- failures ------------------------------------------------------------------------------------


async def test_failure__next_step_raises_the_steps_own_exception_after_recording_it() -> None:
    h = harness()
    wf = await h.start_workflow("Order", {"fail": ["Charge"]})
    with pytest.raises(RuntimeError, match="Charge failed") as raised:
        await h.next_step(wf.id)
    assert raised.traceback[-1].name == "_ran"  # the traceback reaches into the step's code
    assert wf.status == "FAILED" and wf.error is not None and wf.error.step == "Charge"
    assert (await h.persistence.load_workflow(wf.id)).status is S.FAILED


async def test_failure__in_saga_mode_raises_after_the_unwind() -> None:
    h = harness()
    wf = await h.start_workflow("Order", {"fail": ["Charge"]})
    wf.enable_saga_mode()
    with pytest.raises(RuntimeError):
        while wf.status == "ACTIVE":
            await h.next_step(wf.id)
    assert wf.status == "FAILED_ROLLED_BACK"
    assert not wf.state.reserved and wf.state.undo_log == ["release"]


async def test_failure__raise_on_failure_false_keeps_the_engines_behaviour() -> None:
    h = harness(raise_on_failure=False)
    wf = await h.start_workflow("Order", {"fail": ["Charge"]})
    assert await h.next_step(wf.id) is None
    assert wf.status == "FAILED" and wf.error is not None and wf.error.type == "RuntimeError"


async def test_failure__engine_made_failures_raise_from_the_error_tree() -> None:
    h = harness(definition(step("Bad", "bad_result")))
    wf = await h.start_workflow("Order")
    with pytest.raises(StepResultError, match="returned str; a step must return a dict") as raised:
        await h.next_step(wf.id)
    assert raised.value.step == "Bad" and wf.status == "FAILED"


async def test_failure__a_retried_then_successful_step_raises_nothing() -> None:
    h = harness(
        definition(step("Flaky", "ship", retry_policy={"max_attempts": 2, "initial_delay": 0}))
    )
    h.mock_step("Flaky", returns={"shipped": True}, raises=[ConnectionError, None])
    wf = await h.start_workflow("Order")
    assert await h.next_step(wf.id) == {"shipped": True}
    assert wf.status == "COMPLETED"


async def test_failure__a_cancel_is_not_raised() -> None:
    h = harness()
    wf = await h.start_workflow("Order")
    await h.next_step(wf.id)
    await h.next_step(wf.id, user_input={"by": "ops"})
    wf.enable_saga_mode()
    wf.cancel_requested = "changed my mind"  # as recorded when another runner asked
    assert await h.next_step(wf.id) is None  # honoured before the next step: no raise
    assert wf.status == "CANCELLED" and wf.error is not None
    assert wf.state.undo_log == ["refund", "release"]


# --- run_all_steps -------------------------------------------------------------------------------


async def test_run_all_steps__stops_where_input_is_missing() -> None:
    h = harness()
    wf = await h.start_workflow("Order")
    assert await h.run_all_steps() is S.PAUSED
    assert wf.waiting_for is not None and wf.waiting_for["step"] == "Approve"


async def test_run_all_steps__gives_each_step_its_input_and_completes() -> None:
    h = harness()
    wf = await h.start_workflow("Order")
    assert await h.run_all_steps({"Approve": {"by": "ops"}}) is S.COMPLETED
    assert wf.state.approved_by == "ops" and wf.state.shipped


async def test_run_all_steps__input_for_a_step_reached_while_active() -> None:
    h = harness(definition(step("Reserve", "reserve"), step("Approve", "approve")))
    wf = await h.start_workflow("Order")
    # Approve has no input_model: the workflow does not wait; the input goes to it when reached
    assert await h.run_all_steps({"Approve": {"by": "ops"}}) is S.COMPLETED
    assert wf.state.approved_by == "ops"


async def test_run_all_steps__waits_at_a_human_step_and_gives_it_its_input() -> None:
    h = harness(definition(step("Reserve", "reserve", automate_next=True), human("Approve")))
    wf = await h.start_workflow("Order")
    assert await h.run_all_steps() is S.WAITING_HUMAN
    assert wf.waiting_for is not None and wf.waiting_for["step"] == "Approve"
    assert await h.run_all_steps({"Approve": {"by": "ops"}}) is S.COMPLETED
    assert wf.state.approved_by == "ops"


async def test_next_step__resumes_a_human_step_with_user_input() -> None:
    h = harness(definition(human("Approve"), step("Ship", "ship")))
    wf = await h.start_workflow("Order")
    assert await h.next_step(wf.id) is None and wf.status == "WAITING_HUMAN"
    assert await h.next_step(wf.id, user_input={"by": "ops"}) == {"approved_by": "ops"}
    assert wf.status == "ACTIVE"


async def test_run_all_steps__stops_at_a_failure_without_raising() -> None:
    h = harness()
    wf = await h.start_workflow("Order", {"fail": ["Ship"]})
    wf.enable_saga_mode()
    status = await h.run_all_steps({"Approve": {"by": "ops"}}, workflow_id=wf.id)
    assert status is S.FAILED_ROLLED_BACK and wf.state.undo_log == ["refund", "release"]
    assert h.executor.pop(wf.id) is None  # the exception is not kept for later


async def test_run_all_steps__on_a_finished_workflow_returns_its_status() -> None:
    h = harness(definition(step("Only", "ship")))
    await h.start_workflow("Order")
    await h.run_all_steps()
    assert await h.run_all_steps() is S.COMPLETED


# --- journal and properties ----------------------------------------------------------------------


async def test_compensation_journal__as_the_store_has_it() -> None:
    h = harness()
    wf = await h.start_workflow("Order", {"fail": ["Ship"]})
    wf.enable_saga_mode()
    await h.run_all_steps({"Approve": {"by": "ops"}})
    journal = await h.compensation_journal(wf.id)
    assert [(e.step_name, e.status.value) for e in journal] == [
        ("Ship", "SKIPPED"),
        ("Approve", "SKIPPED"),
        ("Charge", "COMPLETED"),
        ("Reserve", "COMPLETED"),
    ]
    assert await h.get_compensation_log() == journal == wf.compensation_journal


async def test_properties__follow_the_last_started_workflow() -> None:
    h = harness()
    with pytest.raises(IllegalOperationError, match="no workflow started"):
        _ = h.current_status
    await h.start_workflow("Order")
    wf = await h.start_workflow("Order", NEW_ORDER)
    assert h.workflow is wf and h.workflow_id == wf.id
    assert h.current_status is S.ACTIVE
    await h.next_step()
    assert h.current_status is S.PAUSED
    assert h.current_state.charge_id == "C-A-7"  # type: ignore[attr-defined]


async def test_history_records_each_attempt() -> None:
    h = harness()
    wf = await h.start_workflow("Order")
    await h.run_all_steps({"Approve": {"by": "ops"}})
    assert [(r.step_name, r.status) for r in wf.history] == [
        ("Reserve", StepStatus.COMPLETED),
        ("Charge", StepStatus.COMPLETED),
        ("Approve", StepStatus.COMPLETED),
        ("Ship", StepStatus.COMPLETED),
    ]
