"""PARALLEL on every store, with the thread pool: per-task records committed as they finish,
a failed step retried from a second store running only the failed task, saga unwinding."""

from __future__ import annotations

from typing import Any

from contract_backends import Backend

import flow_steps
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutor
from ruvon.models import CompensationStatus as C
from ruvon.models import StepStatus
from ruvon.providers.persistence import PersistenceProvider
from ruvon.status import WorkflowStatus as S

TASKS = [
    {"name": n, "function": "flow_steps.book", "compensate_function": "flow_steps.unbook"}
    for n in ("flight", "hotel", "car")
]


def registry(saga: bool) -> dict[str, Any]:
    return {
        "P": {
            "workflow_type": "P",
            "initial_state_model": "flow_steps.Travel",
            "saga_mode": saga,
            "steps": [
                {
                    "name": "Book",
                    "type": "PARALLEL",
                    "tasks": TASKS,
                    "automate_next": True,
                    "merge_strategy": "DEEP",
                },
                {"name": "Pay", "function": "flow_steps.book"},
            ],
        }
    }


def on(store: PersistenceProvider, saga: bool = False) -> WorkflowBuilder:
    return WorkflowBuilder(
        workflow_registry=registry(saga),
        persistence_provider=store,
        execution_provider=ThreadPoolExecutor(max_workers=3),
    )


async def test_tasks_are_recorded_and_a_retry_from_another_store_runs_only_the_failed_one(
    store: PersistenceProvider, backend: Backend
) -> None:
    wf = await on(store).create_workflow("P", {"fail": ["hotel"]})
    await wf.run()
    assert wf.status is S.FAILED
    history = await store.step_history(wf.id)
    by_scope = {r.scope: r.status for r in history}
    assert by_scope["Book/task:flight"] is StepStatus.COMPLETED
    assert by_scope["Book/task:hotel"] is StepStatus.FAILED
    assert (await store.load_workflow(wf.id)).frames[0]["kind"] == "parallel"

    other = backend.new_store()
    await other.initialize()
    again = await on(other).load_workflow(wf.id)
    again.state.fail.clear()
    flow_steps.TASK_CALLS.clear()
    await again.retry()
    assert again.status is S.COMPLETED
    assert [c[0] for c in flow_steps.TASK_CALLS] == ["hotel", "Pay"]
    assert (again.state.flight, again.state.hotel, again.state.car) == (
        "flight-for-Lisbon",
        "hotel-for-Lisbon",
        "car-for-Lisbon",
    )
    assert (await store.load_workflow(wf.id)).frames == []


async def test_a_later_failure_compensates_every_task(
    store: PersistenceProvider, backend: Backend
) -> None:
    wf = await on(store, saga=True).create_workflow("P", {"fail": ["Pay"]})
    await wf.run()
    assert wf.status is S.FAILED_ROLLED_BACK
    reader = backend.new_store()
    await reader.initialize()
    journal = await reader.compensation_journal(wf.id)
    undone = {e.scope for e in journal if e.status is C.COMPLETED}
    assert undone == {"Book/task:flight", "Book/task:hotel", "Book/task:car"}
    loaded = await on(reader, saga=True).load_workflow(wf.id)
    assert (loaded.state.flight, loaded.state.hotel, loaded.state.car) == (None, None, None)
