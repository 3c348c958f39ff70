"""FIRE_AND_FORGET starts an independent workflow once and goes on; ASYNC runs in-process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.errors import DefinitionError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.status import WorkflowStatus as S
from ruvon.steps.spawn import running

RECEIPT = {
    "workflow_type": "Receipt",
    "initial_state_model": "flow_steps.Receipt",
    "steps": [{"name": "Send", "function": "flow_steps.send_receipt"}],
}


def parent(*steps: dict[str, Any], saga: bool = False, **builder: Any) -> WorkflowBuilder:
    return WorkflowBuilder(
        workflow_registry={
            "Order": {
                "workflow_type": "Order",
                "initial_state_model": "flow_steps.Parent",
                "saga_mode": saga,
                "steps": list(steps),
            },
            "Receipt": RECEIPT,
        },
        persistence_provider=builder.pop("store", None) or InMemoryPersistenceProvider(),
        **builder,
    )


SPAWN = {
    "name": "Spawn_Receipt",
    "type": "FIRE_AND_FORGET",
    "target_workflow_type": "Receipt",
    "initial_data_template": {"customer": "{{ state.customer }}", "amount": "{{ amount }}"},
    "automate_next": True,
}


async def _settle() -> None:
    for _ in range(100):
        if not running():
            return
        await asyncio.sleep(0.01)


async def test_fire_and_forget_starts_the_target_and_does_not_wait() -> None:
    b = parent(SPAWN)
    wf = await b.create_workflow("Order", {"customer": "bo", "amount": 12.5})
    result = await wf.next_step()
    assert wf.status is S.COMPLETED
    assert result is not None and result["spawned_workflow_id"] == wf.state.spawned_workflow_id
    child_id = wf.state.spawned_workflow_id
    assert wf.state.spawned_workflows == [child_id]
    await _settle()
    child = await b.load_workflow(child_id)
    assert child.status is S.COMPLETED and child.state.sent
    assert (child.state.customer, child.state.amount) == ("bo", 12.5)
    assert child.parent_id == wf.id and child.metadata["spawned_by"] == wf.id


async def test_the_step_run_again_finds_the_same_workflow() -> None:
    """After a crash the step runs again: the idempotency key finds the workflow it started."""
    store = InMemoryPersistenceProvider()
    b = parent(SPAWN, store=store)
    wf = await b.create_workflow("Order")
    await wf.next_step()
    await _settle()
    again = await b.create_workflow(
        "Receipt", {"customer": "x", "amount": 1}, idempotency_key=f"{wf.id}:Spawn_Receipt"
    )
    assert again.id == wf.state.spawned_workflow_id


async def test_a_started_workflow_whose_process_died_is_continued_by_recovery() -> None:
    store = InMemoryPersistenceProvider()
    b = parent(SPAWN, store=store, lease_seconds=0.2)
    wf = await b.create_workflow("Order")
    await wf.next_step()
    for task in running():  # the process "dies" before the child ran
        task.cancel()
    await asyncio.sleep(0)
    child_id = wf.state.spawned_workflow_id
    row = await store.load_workflow(child_id)
    assert row.status is S.ACTIVE and row.version > 0  # started: recovery may take it
    await asyncio.sleep(max(0.0, (row.lease_expires_at or 0) - time.time()) + 0.05)
    await b.recover()
    assert (await store.load_workflow(child_id)).status is S.COMPLETED


async def test_a_later_failure_never_compensates_the_started_workflow() -> None:
    b = parent(
        SPAWN,
        {
            "name": "Charge",
            "function": "flow_steps.charge_async",
            "compensate_function": "flow_steps.uncharge",
        },
        saga=True,
    )
    wf = await b.create_workflow("Order", {"fail": True})
    await wf.run()
    assert wf.status is S.FAILED_ROLLED_BACK
    await _settle()
    child = await b.load_workflow(wf.state.spawned_workflow_id)
    assert child.status is S.COMPLETED  # independent: not undone
    assert [e.status.value for e in wf.compensation_journal if e.step_name == "Spawn_Receipt"] == [
        "SKIPPED"
    ]


async def test_an_unknown_target_is_a_definition_error_at_load() -> None:
    with pytest.raises(DefinitionError) as info:
        await parent({**SPAWN, "target_workflow_type": "Nope"}).create_workflow("Order")
    err = info.value
    assert (err.workflow_type, err.step, err.key) == (
        "Order",
        "Spawn_Receipt",
        "target_workflow_type",
    )
    assert "workflow type 'Nope' is not defined" in str(err)


async def test_async_steps_run_in_process_and_compensate_like_standard_ones() -> None:
    steps = (
        {
            "name": "Charge",
            "type": "ASYNC",
            "function": "flow_steps.charge_async",
            "compensate_function": "flow_steps.uncharge",
            "automate_next": True,
        },
        {"name": "Spawn", **{k: v for k, v in SPAWN.items() if k != "name"}},
    )
    wf = await parent(*steps).create_workflow("Order")
    await wf.run()
    assert wf.status is S.COMPLETED and wf.state.charged
    await _settle()


@pytest.mark.parametrize(
    ("step", "key"),
    [
        ({**SPAWN, "target_workflow_type": None}, "target_workflow_type"),
        ({**SPAWN, "function": "flow_steps.book"}, "function"),
        ({"name": "A", "type": "ASYNC"}, "function"),
    ],
)
def test_bad_spawn_and_async_steps_are_definition_errors(step: dict[str, Any], key: str) -> None:
    with pytest.raises(DefinitionError) as info:
        parent(step).get_definition("Order")
    assert info.value.key == key, str(info.value)
