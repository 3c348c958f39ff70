"""CRON_SCHEDULE steps and the top-level ``schedule:`` key: load-time checks, registration."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.errors import DefinitionError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import CompensationStatus
from ruvon.status import WorkflowStatus as S

REPORT = {
    "workflow_type": "Report",
    "initial_state_model": "cron_steps.Report",
    "steps": [{"name": "Write", "function": "cron_steps.report"}],
}


def cron_step(**keys: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": "Register",
        "type": "CRON_SCHEDULE",
        "target_workflow_type": "Report",
        "cron_expression": "*/5 * * * *",
        "automate_next": True,
    }
    step.update(keys)
    return {k: v for k, v in step.items() if v is not None}


def setup(*steps: dict[str, Any], saga: bool = False, **top: Any) -> dict[str, Any]:
    return {
        "workflow_type": "Setup",
        "initial_state_model": "cron_steps.Setup",
        "saga_mode": saga,
        "steps": list(steps),
        **top,
    }


def builder(*definitions: dict[str, Any]) -> WorkflowBuilder:
    registry = {d["workflow_type"]: d for d in definitions}
    return WorkflowBuilder(
        workflow_registry=registry, persistence_provider=InMemoryPersistenceProvider()
    )


def load_error(definition: dict[str, Any]) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        _ = builder(definition, REPORT).registry
    return info.value


# --- load-time checks ----------------------------------------------------------------------------


def test_a_cron_expression_croniter_refuses_is_a_definition_error_naming_step_and_key() -> None:
    error = load_error(setup(cron_step(cron_expression="61 * * * *")))
    assert (error.step, error.key, error.workflow_type) == ("Register", "cron_expression", "Setup")
    assert "61 * * * *" in str(error) and "not valid" in str(error)


def test_the_schedule_alias_is_checked_the_same_way() -> None:
    error = load_error(setup(cron_step(cron_expression=None, schedule="every day")))
    assert (error.step, error.key) == ("Register", "schedule")
    assert "every day" in str(error)


def test_a_cron_expression_that_never_fires_is_refused() -> None:
    error = load_error(setup(cron_step(cron_expression="0 0 30 2 *")))  # February 30th
    assert error.key == "cron_expression"


def test_a_missing_target_workflow_type_is_a_definition_error() -> None:
    error = load_error(setup(cron_step(target_workflow_type=None)))
    assert (error.step, error.key) == ("Register", "target_workflow_type")
    assert "required key is missing" in str(error)


def test_a_cron_step_runs_no_function() -> None:
    error = load_error(setup(cron_step(function="cron_steps.report")))
    assert (error.step, error.key) == ("Register", "function")


def test_a_bad_top_level_schedule_names_the_key() -> None:
    report = {**REPORT, "schedule": "* * * *"}
    with pytest.raises(DefinitionError) as info:
        _ = builder(report).registry
    assert (info.value.key, info.value.step, info.value.workflow_type) == (
        "schedule",
        None,
        "Report",
    )


def test_expressions_are_kept_with_their_whitespace_normalized() -> None:
    b = builder(setup(cron_step(schedule="*/5   *  * * *", cron_expression=None)), REPORT)
    assert b.get_definition("Setup").steps[0].compiled.cron_expression == "*/5 * * * *"
    seconds = builder({**REPORT, "schedule": "@hourly"})
    assert seconds.get_definition("Report").spec.schedule == "@hourly"


# --- running the step ----------------------------------------------------------------------------


async def test_the_step_registers_its_schedule_with_rendered_name_and_data() -> None:
    step = cron_step(
        schedule_name="report_{{ state.region }}",
        initial_data_template={"region": "{{ state.region }}", "copies": 3},
    )
    b = builder(setup(step), REPORT)
    before = time.time()
    wf = await b.create_workflow("Setup", {"region": "us"})
    assert await wf.run() is S.COMPLETED
    assert wf.state.schedule_name == "report_us"
    [schedule] = await wf.persistence.list_schedules()
    assert schedule.name == "report_us" and schedule.workflow_type == "Report"
    assert schedule.cron_expression == "*/5 * * * *" and schedule.enabled
    assert schedule.initial_data == {"region": "us", "copies": 3}
    assert before < schedule.next_due_at <= before + 300 and schedule.next_due_at % 300 == 0
    assert schedule.last_tick_at is None
    [record] = await wf.persistence.step_history(wf.id)
    assert record.result is not None and record.result["schedule_name"] == "report_us"
    assert "Report" in record.result["message"]


async def test_the_default_name_is_per_workflow() -> None:
    b = builder(setup(cron_step()), REPORT)
    wf = await b.create_workflow("Setup")
    await wf.run()
    assert wf.state.schedule_name == f"sched_Report_{wf.id}"


async def test_running_it_again_keeps_the_next_tick() -> None:
    b = builder(setup(cron_step(schedule_name="fixed")), REPORT)
    store = b.persistence_provider
    assert store is not None
    first = await b.create_workflow("Setup")
    await first.run()
    [before] = await store.list_schedules()
    await store.claim_schedule_tick(
        "fixed",
        expected_due_at=before.next_due_at,
        tick_at=before.next_due_at,
        next_due_at=before.next_due_at + 300,
        now=time.time(),
    )
    second = await b.create_workflow("Setup")
    await second.run()
    [after] = await store.list_schedules()
    assert after.next_due_at == before.next_due_at + 300  # not moved back, nor on
    assert after.last_tick_at == before.next_due_at


async def test_a_target_type_that_is_not_defined_fails_the_step_when_it_runs() -> None:
    b = builder(setup(cron_step(target_workflow_type="Nope")), REPORT)
    wf = await b.create_workflow("Setup")
    assert await wf.run() is S.FAILED
    assert wf.error is not None and wf.error.step == "Register"
    assert "unknown workflow type 'Nope'" in wf.error.message
    assert await wf.persistence.list_schedules() == []


async def test_initial_data_the_target_refuses_fails_the_step() -> None:
    needy = {**REPORT, "workflow_type": "Needy", "initial_state_model": "cron_steps.Needy"}
    step = cron_step(target_workflow_type="Needy", initial_data_template={"customer_id": "x"})
    b = builder(setup(step), needy)
    wf = await b.create_workflow("Setup")
    assert await wf.run() is S.FAILED
    assert wf.error is not None and "customer_id" in wf.error.message
    assert await wf.persistence.list_schedules() == []


async def test_a_bad_template_fails_the_step_naming_it() -> None:
    b = builder(setup(cron_step(schedule_name="{{ state.nowhere }}")), REPORT)
    wf = await b.create_workflow("Setup")
    assert await wf.run() is S.FAILED
    assert wf.error is not None and "nowhere" in wf.error.message


async def test_a_saga_unwinds_through_it_with_its_compensation() -> None:
    steps = (
        cron_step(schedule_name="s1", compensate_function="cron_steps.unregister"),
        {"name": "Fail", "function": "cron_steps.boom"},
    )
    b = builder(setup(*steps, saga=True), REPORT)
    wf = await b.create_workflow("Setup")
    assert await wf.run() is S.FAILED_ROLLED_BACK
    assert wf.state.unregistered == "s1"
    [schedule] = await wf.persistence.list_schedules()
    assert not schedule.enabled
    journal = await wf.persistence.compensation_journal(wf.id)
    assert [(e.step_name, e.status) for e in journal] == [
        ("Fail", CompensationStatus.SKIPPED),
        ("Register", CompensationStatus.COMPLETED),
    ]
