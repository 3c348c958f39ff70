"""HUMAN_IN_LOOP steps and pausing: WAITING_HUMAN, what it waits for, resume with validated
input, bad input that writes nothing, pause directives, cancel while waiting."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import flow_steps
from flow_support import flow, step
from ruvon.errors import IllegalOperationError, WorkflowValidationError
from ruvon.status import WorkflowStatus as S

APPROVE = step(
    "Approve", "flow_steps.take_input", type="HUMAN_IN_LOOP", input_model="flow_steps.Approval"
)


async def test_reaching_a_human_step_stops_in_waiting_human_saying_what_it_waits_for() -> None:
    b = flow(step("Prep"), APPROVE, step("After"))
    wf = await b.create_workflow("F")
    await wf.next_step()
    assert (wf.status, wf.current_step_name) == (S.WAITING_HUMAN, "Approve")
    waiting = wf.waiting_for
    assert waiting is not None
    assert (waiting["step"], waiting["step_type"]) == ("Approve", "HUMAN_IN_LOOP")
    assert waiting["input_model"] == "flow_steps.Approval"
    assert set(waiting["input_schema"]["properties"]) == {"approved", "reviewer"}
    row = await wf.persistence.load_workflow(wf.id)
    assert (row.status, row.current_step, row.lease_owner) == (S.WAITING_HUMAN, 1, None)
    # another process: the store alone says the same
    again = await b.load_workflow(wf.id)
    assert again.waiting_for == waiting


async def test_a_human_step_as_the_first_step_waits_on_the_first_call() -> None:
    wf = await flow(APPROVE, step("After")).create_workflow("F")
    assert await wf.next_step() is None
    assert wf.status is S.WAITING_HUMAN and wf.state.log == []


@pytest.mark.parametrize("how", ["resume", "next_step"])
async def test_valid_input_runs_the_step_with_it_and_continues(how: str) -> None:
    flow_steps.CONTEXTS.clear()
    wf = await flow(step("Prep"), APPROVE, step("After")).create_workflow("F")
    await wf.next_step()
    data = {"approved": True, "reviewer": "ann"}
    if how == "resume":
        await wf.resume(data)
    else:
        await wf.next_step(user_input=data)
    assert wf.status is S.COMPLETED
    assert (wf.state.approved, wf.state.reviewer) == (True, "ann")
    assert wf.state.log == ["Prep", "Approve", "After"]
    assert ("Approve", None, None, data) in flow_steps.CONTEXTS


@pytest.mark.parametrize("bad", [{"approved": "perhaps", "reviewer": ""}, {}, {"reviewer": "ann"}])
async def test_bad_input_raises_a_value_error_naming_the_fields_and_writes_nothing(
    bad: dict[str, Any],
) -> None:
    wf = await flow(APPROVE, step("After")).create_workflow("F")
    await wf.next_step()
    version = (await wf.persistence.load_workflow(wf.id)).version
    with pytest.raises(WorkflowValidationError) as info:
        await wf.resume(bad)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    for field in ("approved", "reviewer"):
        if field not in bad or bad[field] in ("", "perhaps"):
            assert field in message
    row = await wf.persistence.load_workflow(wf.id)
    assert (row.status, row.version) == (S.WAITING_HUMAN, version)
    assert wf.status is S.WAITING_HUMAN
    await wf.resume({"approved": False, "reviewer": "bo"})  # still resumable
    assert wf.status is S.COMPLETED and wf.state.approved is False


async def test_a_human_step_without_a_function_merges_the_input() -> None:
    b = flow(step("Review", None, type="HUMAN_IN_LOOP"), step("After"))
    wf = await b.create_workflow("F")
    await wf.next_step()
    await wf.resume({"reviewer": "cy", "approved": True})
    assert wf.status is S.COMPLETED and (wf.state.reviewer, wf.state.approved) == ("cy", True)


async def test_input_with_keys_the_state_lacks_is_refused_before_anything_is_written() -> None:
    wf = await flow(step("Review", None, type="HUMAN_IN_LOOP")).create_workflow("F")
    await wf.next_step()
    with pytest.raises(WorkflowValidationError, match="nope"):
        await wf.resume({"nope": 1})
    assert wf.status is S.WAITING_HUMAN


async def test_resume_of_a_workflow_that_waits_for_nothing_is_refused() -> None:
    wf = await flow(step("A", automate_next=False), step("B")).create_workflow("F")
    with pytest.raises(IllegalOperationError, match="not waiting for input"):
        await wf.resume({"x": 1})


async def test_a_pause_directive_merges_its_result_and_the_next_step_gets_the_input() -> None:
    flow_steps.CONTEXTS.clear()
    b = flow(step("Pause", "flow_steps.pauser"), step("Next"), step("Last"))
    wf = await b.create_workflow("F")
    await wf.next_step()
    assert (wf.status, wf.current_step_name, wf.state.note) == (S.PAUSED, "Next", "paused")
    assert wf.waiting_for is not None and wf.waiting_for["reason"] == "a manager"
    loaded = await b.load_workflow(wf.id)  # what it waits for survives a reload
    assert loaded.waiting_for is not None and loaded.waiting_for["reason"] == "a manager"
    await loaded.next_step(user_input={"go": 1})
    assert loaded.status is S.COMPLETED
    assert ("Next", None, None, {"go": 1}) in flow_steps.CONTEXTS
    assert ("Last", None, None, {}) in flow_steps.CONTEXTS
    assert loaded.frames == []


@pytest.mark.parametrize("saga", [False, True])
async def test_cancel_works_on_a_waiting_workflow(saga: bool) -> None:
    b = flow(step("Prep", compensate_function="flow_steps.undo"), APPROVE, saga=saga)
    wf = await b.create_workflow("F")
    await wf.next_step()
    assert await wf.cancel("no longer needed") is S.CANCELLED
    assert wf.state.log == (["Prep", "undo:Prep"] if saga else ["Prep"])


async def test_run_returns_at_a_human_step() -> None:
    wf = await flow(step("Prep"), APPROVE, step("After")).create_workflow("F")
    assert await wf.run() is S.WAITING_HUMAN


async def test_input_of_a_resume_interrupted_mid_step_is_kept_for_recovery() -> None:
    """The resume commits the input with it: killed before the step's own commit, the
    workflow is ACTIVE at the step with the input kept, and the next runner uses it."""
    b = flow(
        step(
            "Approve",
            "flow_steps.take_input_or_die",
            type="HUMAN_IN_LOOP",
            input_model="flow_steps.Approval",
        ),
        step("After"),
    )
    b.lease_seconds = 0.2  # the dead runner's lease runs out soon
    wf = await b.create_workflow("F")
    await wf.next_step()
    flow_steps.INTERRUPT_ONCE.add(wf.id)
    with pytest.raises(KeyboardInterrupt):
        await wf.resume({"approved": True, "reviewer": "ann"})
    row = await wf.persistence.load_workflow(wf.id)
    assert row.status is S.ACTIVE
    assert row.frames[-1] == {"kind": "input", "user_input": {"approved": True, "reviewer": "ann"}}
    row = await wf.persistence.load_workflow(wf.id)
    await asyncio.sleep(max(0.0, (row.lease_expires_at or 0) - time.time()) + 0.05)
    assert await b.recover() == [wf.id]  # recovery has no input of its own
    recovered = await b.load_workflow(wf.id)
    assert recovered.status is S.COMPLETED and recovered.state.reviewer == "ann"
    assert recovered.frames == []


async def test_input_that_can_not_be_stored_is_refused() -> None:
    wf = await flow(step("Review", "flow_steps.take_input", type="HUMAN_IN_LOOP")).create_workflow(
        "F"
    )
    await wf.next_step()
    with pytest.raises(WorkflowValidationError, match="can not be stored"):
        await wf.resume({"when": object()})
    assert wf.status is S.WAITING_HUMAN


async def test_a_function_naming_its_input_fields_as_parameters_loads_and_gets_them() -> None:
    """The load check passes the input model's fields as keywords: a function that requires
    them (``def f(state, context, approved, reviewer)``) is what a user writes."""
    named = step(
        "Approve",
        "flow_steps.take_named_input",
        type="HUMAN_IN_LOOP",
        input_model="flow_steps.Approval",
    )
    wf = await flow(named, step("After")).create_workflow("F")
    await wf.next_step()
    await wf.resume({"approved": True, "reviewer": "kim"})
    assert wf.state.note == "kim:True"
