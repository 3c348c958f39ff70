"""PARALLEL steps: static tasks and fan-out, merging, failures, timeouts, per-task records and
commits, saga compensation of the tasks, and the thread-pool executor."""

from __future__ import annotations

import time
from typing import Any

import pytest

import flow_steps
from ruvon.builder import WorkflowBuilder
from ruvon.errors import DefinitionError
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.execution.thread_pool import (
    ThreadPoolExecutionProvider,
    ThreadPoolExecutor,
)
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import CompensationStatus as C
from ruvon.models import StepStatus
from ruvon.status import WorkflowStatus as S

TASKS = [
    {"name": n, "function": "flow_steps.book", "compensate_function": "flow_steps.unbook"}
    for n in ("flight", "hotel", "car")
]


def flow(*steps: dict[str, Any], saga: bool = False, executor: Any = None) -> WorkflowBuilder:
    return WorkflowBuilder(
        workflow_registry={
            "P": {
                "workflow_type": "P",
                "initial_state_model": "flow_steps.Travel",
                "saga_mode": saga,
                "steps": list(steps),
            }
        },
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=executor or SyncExecutor(),
    )


def parallel(**keys: Any) -> dict[str, Any]:
    keys.setdefault("tasks", TASKS)
    return {"name": "Book", "type": "PARALLEL", "automate_next": True, **keys}


def after(name: str = "Pay", **keys: Any) -> dict[str, Any]:
    return {"name": name, "function": "flow_steps.book", **keys}


@pytest.mark.parametrize("executor", [SyncExecutor(), ThreadPoolExecutor(max_workers=4)])
async def test_tasks_results_are_merged_in_task_order_and_each_task_is_recorded(
    executor: Any,
) -> None:
    wf = await flow(parallel(), executor=executor).create_workflow("P")
    result = await wf.next_step()
    assert wf.status is S.COMPLETED
    assert (wf.state.flight, wf.state.hotel, wf.state.car) == (
        "flight-for-Lisbon",
        "hotel-for-Lisbon",
        "car-for-Lisbon",
    )
    assert wf.state.details == {"car": True}  # SHALLOW, PREFER_NEW: the last task's dict
    assert wf.state.log == []  # tasks worked on copies
    history = await wf.persistence.step_history(wf.id)
    assert sorted(r.scope for r in history if r.scope.startswith("Book/task:")) == [
        "Book/task:car",
        "Book/task:flight",
        "Book/task:hotel",
    ]
    assert history[-1].scope == "Book" and history[-1].status is StepStatus.COMPLETED
    assert result is not None and result["hotel"] == "hotel-for-Lisbon"


async def test_each_finished_task_is_committed_on_its_own() -> None:
    store = InMemoryPersistenceProvider()
    b = flow(parallel())
    b.persistence_provider = store
    wf = await b.create_workflow("P", persistence_provider=store)
    before = store.commits
    await wf.next_step()
    assert store.commits - before == 1 + 3 + 1  # start, one per task, the step's own


async def test_deep_merge_and_the_conflict_behaviours() -> None:
    wf = await flow(parallel(merge_strategy="deep")).create_workflow("P")
    await wf.run()
    assert wf.state.details == {"flight": True, "hotel": True, "car": True}

    wf = await flow(parallel(merge_conflict_behavior="PREFER_OLD")).create_workflow("P")
    await wf.run()
    assert wf.state.details == {"flight": True}

    wf = await flow(parallel(merge_conflict_behavior="raise_error")).create_workflow("P")
    await wf.run()
    assert wf.status is S.FAILED
    assert "tasks 'flight' and 'hotel' both returned 'details'" in wf.error.message  # type: ignore[union-attr]


async def test_fan_out_over_a_list_with_the_item_as_keyword_and_in_context() -> None:
    flow_steps.TASK_CALLS.clear()
    step = parallel(
        tasks=None,
        iterate_over="state.cities",
        task_function="flow_steps.price_city",
        item_var_name="city",
        merge_strategy="DEEP",
    )
    del step["tasks"]
    wf = await flow(step).create_workflow("P", {"cities": ["Porto", "Faro"]})
    await wf.run()
    assert wf.status is S.COMPLETED and wf.state.prices == {"Porto": 5.0, "Faro": 4.0}
    assert sorted(flow_steps.TASK_CALLS) == [("price", "Faro", 1), ("price", "Porto", 0)]


async def test_a_failed_task_fails_the_step_after_the_others_finish_and_retry_runs_only_it() -> (
    None
):
    flow_steps.TASK_CALLS.clear()
    b = flow(parallel(), after())
    wf = await b.create_workflow("P", {"fail": ["hotel"]})
    await wf.run()
    assert wf.status is S.FAILED
    assert "task 'hotel' of PARALLEL step 'Book' failed" in wf.error.message  # type: ignore[union-attr]
    assert sorted(c[0] for c in flow_steps.TASK_CALLS) == ["car", "flight", "hotel"]
    wf.state.fail.clear()  # fixed by the operator; the in-place change is kept by the retry
    flow_steps.TASK_CALLS.clear()
    await wf.retry()
    assert wf.status is S.COMPLETED
    assert [c[0] for c in flow_steps.TASK_CALLS] == ["hotel", "Pay"]  # only the failed task
    assert wf.state.flight == "flight-for-Lisbon" and wf.state.hotel == "hotel-for-Lisbon"


async def test_partial_success_merges_the_others_and_names_the_failed_tasks() -> None:
    wf = await flow(parallel(allow_partial_success=True)).create_workflow("P", {"fail": ["car"]})
    result = await wf.next_step()
    assert wf.status is S.COMPLETED and wf.state.car is None and wf.state.flight is not None
    assert result is not None and result["failed_tasks"] == ["car"]


@pytest.mark.parametrize("saga_failure", ["in the step", "after it"])
async def test_saga_compensates_the_step_s_completed_tasks_first(saga_failure: str) -> None:
    fail = ["hotel"] if saga_failure == "in the step" else ["Pay"]
    b = flow(
        after("Prep", compensate_function="flow_steps.unbook", automate_next=True),
        parallel(),
        after(),
        saga=True,
    )
    wf = await b.create_workflow("P", {"fail": fail})
    await wf.run()
    assert wf.status is S.FAILED_ROLLED_BACK
    undone = [e.scope for e in wf.compensation_journal if e.status is C.COMPLETED]
    tasks = [s for s in undone if s.startswith("Book/task:")]
    expected = {"Book/task:flight", "Book/task:car"} | (
        {"Book/task:hotel"} if saga_failure == "after it" else set()
    )
    assert set(tasks) == expected
    assert undone[-1] == "Prep"  # the tasks before the earlier steps
    assert (wf.state.flight, wf.state.car) == (None, None)


async def test_fan_out_tasks_are_compensated_with_their_own_item() -> None:
    step = parallel(
        iterate_over="cities",
        task_function="flow_steps.price_city",
        task_compensate_function="flow_steps.unprice",
        item_var_name="city",
    )
    del step["tasks"]
    b = flow(step, after(), saga=True)
    wf = await b.create_workflow("P", {"cities": ["Porto", "Faro"], "fail": ["Pay"]})
    await wf.run()
    assert wf.status is S.FAILED_ROLLED_BACK
    assert sorted(x for x in wf.state.log if x.startswith("unprice")) == [
        "unprice:Faro:1",
        "unprice:Porto:0",
    ]


async def test_the_thread_pool_runs_blocking_tasks_side_by_side() -> None:
    slow = [{"name": f"t{i}", "function": "flow_steps.slow"} for i in range(3)]
    timings = {}
    for name, executor in (("sync", SyncExecutor()), ("threads", ThreadPoolExecutionProvider(5))):
        wf = await flow(parallel(tasks=slow), executor=executor).create_workflow("P")
        start = time.perf_counter()
        await wf.run()
        timings[name] = time.perf_counter() - start
        assert wf.status is S.COMPLETED
    # three 0.3 s sleeps: about 0.9 s one after another, about 0.3 s side by side
    assert timings["sync"] > 0.85 and timings["threads"] < 0.8


async def test_the_whole_step_times_out() -> None:
    slow = [{"name": f"t{i}", "function": "flow_steps.slow"} for i in range(4)]
    wf = await flow(parallel(tasks=slow, timeout_seconds=0.5)).create_workflow("P")
    await wf.run()  # SyncExecutor: four 0.3 s tasks one after another
    assert wf.status is S.FAILED and "timed out after 0.5s" in wf.error.message  # type: ignore[union-attr]


# --- at load ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "key", "needle"),
    [
        ({"tasks": []}, "tasks", "needs 'tasks'"),
        ({"merge_strategy": "SIDEWAYS"}, "merge_strategy", ""),
        ({"merge_conflict_behavior": "COIN_FLIP"}, "merge_conflict_behavior", ""),
        ({"tasks": [{"name": "a", "function": "flow_steps.nope"}]}, "function", "nope"),
        ({"tasks": [TASKS[0], TASKS[0]]}, "tasks", "two tasks are named 'flight'"),
        ({"merge_function_path": "flow_steps.nope"}, "merge_function_path", "nope"),
    ],
)
def test_bad_parallel_steps_are_definition_errors(
    keys: dict[str, Any], key: str, needle: str
) -> None:
    with pytest.raises(DefinitionError) as info:
        flow(parallel(**keys)).get_definition("P")
    assert info.value.key is not None and info.value.key.startswith(key), str(info.value)
    assert needle in str(info.value)


def test_function_path_is_accepted_for_a_task() -> None:
    tasks = [{"name": "a", "function_path": "flow_steps.book"}]
    definition = flow(parallel(tasks=tasks)).get_definition("P")
    assert definition.steps[0].compiled.tasks[0].function is flow_steps.book


@pytest.mark.parametrize("executor", [SyncExecutor(), ThreadPoolExecutor(max_workers=2)])
async def test_a_keyboard_interrupt_in_a_task_comes_out_of_next_step_on_every_executor(
    executor: Any,
) -> None:
    tasks = [{"name": "a", "function": "flow_steps.interrupted"}, TASKS[1]]
    wf = await flow(parallel(tasks=tasks), executor=executor).create_workflow("P")
    with pytest.raises(KeyboardInterrupt):
        await wf.next_step()
    assert wf.status is S.ACTIVE  # put back to its last commit, as for any interruption


# --- timeout_seconds on each executor -----------------------------------------------------------


@pytest.fixture
def blocking() -> Any:
    flow_steps.BLOCKING.update(seconds=1.0, runs=[])
    flow_steps.TASK_CALLS.clear()
    return flow_steps.BLOCKING


def _completed_tasks(wf: Any) -> list[str]:
    return [
        r.scope
        for r in wf.history
        if r.scope.startswith("Book/task:") and r.status is StepStatus.COMPLETED
    ]


async def test_sync_executor_a_blocking_task_past_the_deadline_fails_the_step_unused(
    blocking: dict[str, Any],
) -> None:
    """SyncExecutor can not interrupt a blocking task: the step fails when it returns, the
    late result is neither merged nor recorded, and the tasks after it never start."""
    tasks = [{"name": "flight", "function": "flow_steps.block"}, TASKS[1]]
    wf = await flow(parallel(tasks=tasks, timeout_seconds=0.3)).create_workflow("P")
    start = time.perf_counter()
    await wf.run()
    assert time.perf_counter() - start < 5  # about 1 s: when the blocking task returned
    assert wf.status is S.FAILED and wf.error is not None
    assert wf.error.type == "StepTimeoutError"
    assert wf.error.message == "PARALLEL step 'Book' timed out after 0.3s (0 of 2 tasks finished)"
    assert wf.state.flight is None and wf.state.hotel is None  # nothing merged
    assert _completed_tasks(wf) == []  # the late result is not recorded either
    assert blocking["runs"] == ["Book/task:flight"] and flow_steps.TASK_CALLS == []

    blocking["seconds"] = 0  # the supplier is fast again: retry() runs both tasks
    await wf.retry()
    assert wf.status is S.COMPLETED
    assert wf.state.flight == "run-2"  # the second run's result: the late first one was dropped
    assert wf.state.hotel == "hotel-for-Lisbon"


async def test_sync_executor_starts_no_attempt_of_a_task_after_the_deadline(
    blocking: dict[str, Any],
) -> None:
    blocking["seconds"] = 0.5
    retry = {"max_attempts": 5, "initial_delay": 0}
    tasks = [{"name": "flight", "function": "flow_steps.block_then_fail", "retry_policy": retry}]
    wf = await flow(parallel(tasks=tasks, timeout_seconds=0.3)).create_workflow("P")
    await wf.run()
    assert wf.status is S.FAILED and wf.error is not None
    assert wf.error.type == "StepTimeoutError"
    assert blocking["runs"] == ["Book/task:flight"]  # one attempt: it ended past the deadline


async def test_sync_executor_cancels_an_async_task_at_the_deadline(
    blocking: dict[str, Any],
) -> None:
    tasks = [{"name": "car", "function": "flow_steps.wait_long"}, TASKS[1]]
    wf = await flow(parallel(tasks=tasks, timeout_seconds=0.3)).create_workflow("P")
    start = time.perf_counter()
    await wf.run()
    assert time.perf_counter() - start < 5  # not the task's 30 s
    assert wf.status is S.FAILED and wf.error is not None
    assert wf.error.type == "StepTimeoutError"
    assert wf.state.car is None and _completed_tasks(wf) == []
    assert flow_steps.TASK_CALLS == []  # the task after it never started


async def test_thread_pool_fails_the_step_at_the_deadline_and_drops_late_results(
    blocking: dict[str, Any],
) -> None:
    blocking["seconds"] = 3
    tasks = [{"name": "flight", "function": "flow_steps.block"}, TASKS[1]]
    executor = ThreadPoolExecutor(max_workers=2)
    wf = await flow(parallel(tasks=tasks, timeout_seconds=0.3), executor=executor).create_workflow(
        "P"
    )
    start = time.perf_counter()
    await wf.run()
    assert time.perf_counter() - start < 2.5  # did not wait for the 3 s thread
    assert wf.status is S.FAILED and wf.error is not None
    assert wf.error.type == "StepTimeoutError"
    assert wf.error.message == "PARALLEL step 'Book' timed out after 0.3s (1 of 2 tasks finished)"
    assert wf.state.flight is None and wf.state.hotel is None  # nothing merged
    assert _completed_tasks(wf) == ["Book/task:hotel"]  # finished in time: kept for retry()
    await executor.close()  # waits for the thread, whose late result is still not recorded
    assert wf.state.flight is None and _completed_tasks(wf) == ["Book/task:hotel"]
