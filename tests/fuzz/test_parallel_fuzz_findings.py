"""Bugs of PARALLEL steps found by ``test_fuzz_parallel.py``, each as the smallest workflow that
shows it (functions from ``fuzzapp.parallel``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.status import WorkflowStatus as S


def _plan(tasks: dict[str, tuple[int, dict[str, Any], float]]) -> str:
    """Task name -> (failing attempts, result, seconds it sleeps first)."""
    return json.dumps(
        {
            "fan_out": None,
            "tasks": {n: {"fails": f, "result": r, "sleep": s} for n, (f, r, s) in tasks.items()},
            "undo": {n: {"fails": 0} for n in tasks},
            "steps": {},
        }
    )


def _builder(
    names: list[str], executor: Any = None, saga: bool = True, after: bool = False, **par: Any
) -> WorkflowBuilder:
    """``Par`` (tasks ``names``, each with a compensation) and, with ``after``, ``After``."""
    tasks = [
        {
            "name": n,
            "function": "fuzzapp.parallel.task",
            "compensate_function": "fuzzapp.parallel.undo",
        }
        for n in names
    ]
    steps: list[dict[str, Any]] = [{"name": "Par", "type": "PARALLEL", "tasks": tasks, **par}]
    if after:
        steps[0]["automate_next"] = True
        steps.append({"name": "After", "function": "fuzzapp.parallel.step"})
    definition = {
        "workflow_type": "P",
        "initial_state_model": "fuzzapp.parallel.ParState",
        "saga_mode": saga,
        "steps": steps,
    }
    return WorkflowBuilder(
        workflow_registry={"P": definition},
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=executor or SyncExecutor(),
    )


def _journal(wf: Any) -> list[tuple[str, str]]:
    return [(e.scope, e.status.value) for e in wf.journal]


@pytest.mark.parametrize(
    ("fails", "journal"),
    [
        # the failed task first in the list: it had no entry at all
        ({"x": 9, "y": 0}, [("Par/task:x", "SKIPPED"), ("Par/task:y", "COMPLETED")]),
        ({"x": 0, "y": 9}, [("Par/task:y", "SKIPPED"), ("Par/task:x", "COMPLETED")]),
        # two failed tasks: only the one recorded last had one
        (
            {"x": 9, "y": 9, "z": 0},
            [("Par/task:y", "SKIPPED"), ("Par/task:x", "SKIPPED"), ("Par/task:z", "COMPLETED")],
        ),
    ],
)
async def test_every_task_that_failed_for_good_is_a_failing_step_of_the_unwind(
    fails: dict[str, int], journal: list[tuple[str, str]]
) -> None:
    """Whether a failed task had its "failing step" SKIPPED entry depended on the order the
    tasks finished in (only the task recorded last got one), so on the thread pool one
    workflow ended with either journal. Each failed task is a failing step now."""
    b = _builder(list(fails))
    wf = await b.create_workflow("P", {"plan": _plan({n: (f, {}, 0.0) for n, f in fails.items()})})
    await wf.run()
    assert wf.status is S.FAILED_ROLLED_BACK
    assert _journal(wf) == journal
    assert wf.state.undone == [f"{s}|None|None|" for s, status in journal if status == "COMPLETED"]


async def test_the_thread_pool_gives_one_journal_whatever_order_the_tasks_finish_in() -> None:
    executor = ThreadPoolExecutor(max_workers=2)
    b = _builder(["x", "y"], executor)
    seen = set()
    try:
        for x_sleeps in (0.0, 0.02):  # x fails before y completes, then after
            plan = _plan({"x": (9, {}, x_sleeps), "y": (0, {}, 0.01)})
            wf = await b.create_workflow("P", {"plan": plan})
            await wf.run()
            seen.add(tuple(_journal(wf)))
    finally:
        await executor.close()
    assert seen == {(("Par/task:x", "SKIPPED"), ("Par/task:y", "COMPLETED"))}


async def test_a_deep_conflict_on_a_nested_key_names_the_task_that_returned_it() -> None:
    """DEEP with RAISE_ERROR: a nested key that came inside an earlier task's dict had no
    owner, and the error named that task '?' (the docs: it names the key and both tasks)."""
    b = _builder(["x", "y", "z"], merge_strategy="DEEP", merge_conflict_behavior="RAISE_ERROR")
    results = {
        "x": {"b": {"y": {"z": 0}}},
        "y": {"b": {"y": {"w": 1}}},
        "z": {"b": {"y": {"z": 1}}},
    }
    wf = await b.create_workflow("P", {"plan": _plan({n: (0, r, 0.0) for n, r in results.items()})})
    await wf.run()
    assert wf.status is S.FAILED_ROLLED_BACK and wf.error is not None
    assert wf.error.message.startswith("tasks 'x' and 'z' both returned 'b.y.z' (0 and 1)")


def _after_fails(tasks: dict[str, tuple[int, dict[str, Any], float]]) -> str:
    plan = json.loads(_plan(tasks))
    plan["steps"] = {"After": {"fails": 9, "mark": 2, "undo_fails": 0}}
    return json.dumps(plan)


@pytest.mark.parametrize("name", ["a/b", "%2F"])
async def test_a_task_whose_name_holds_a_slash_or_a_percent_is_compensated(name: str) -> None:
    """The task's scope was ``Par/task:a/b``, read back as two segments: the task could not be
    found from its records, so the unwind left it out without a word (and the workflow said
    FAILED_ROLLED_BACK, the booking still made). Its segment is escaped now (``task:a%2Fb``),
    as every scope path's is."""
    b = _builder([name, "ok"], after=True)
    wf = await b.create_workflow(
        "P", {"plan": _after_fails({name: (0, {"a": 1}, 0.0), "ok": (0, {"b": 1}, 0.0)})}
    )
    await wf.run()
    scope = "Par/task:" + name.replace("%", "%25").replace("/", "%2F")
    assert wf.status is S.FAILED_ROLLED_BACK
    assert _journal(wf) == [
        ("After", "SKIPPED"),
        ("Par/task:ok", "COMPLETED"),
        (scope, "COMPLETED"),
    ]
    assert wf.state.undone == ["Par/task:ok|None|None|b", f"{scope}|None|None|a"]


async def test_retry_keeps_a_completed_task_whose_name_holds_a_slash() -> None:
    b = _builder(["a/b", "ok"], saga=False, after=True)
    wf = await b.create_workflow(
        "P", {"plan": _after_fails({"a/b": (0, {"a": 1}, 0.0), "ok": (9, {"b": 1}, 0.0)})}
    )
    await wf.run()
    assert wf.status is S.FAILED
    wf.state.fixed = True
    await wf.retry()
    assert wf.status is S.COMPLETED and (wf.state.a, wf.state.b) == (1, 1)
    ran = [r.scope for r in wf.history if r.status.value == "COMPLETED"]
    assert ran == ["Par/task:a%2Fb", "Par/task:ok", "Par", "After"]  # a/b ran once


async def test_a_static_task_named_with_digits_is_compensated_without_a_loop_index() -> None:
    """A static task named ``7`` ran with ``loop_index`` None, but its compensation got 7, as
    if it were item 7 of a fan-out (its scope ``task:7`` was read as an index)."""
    b = _builder(["7"], after=True)
    wf = await b.create_workflow("P", {"plan": _after_fails({"7": (0, {"a": 1}, 0.0)})})
    await wf.run()
    assert wf.status is S.FAILED_ROLLED_BACK
    assert wf.state.undone == ["Par/task:7|None|None|a"]  # scope|loop_index|loop_item|keys


async def test_a_fan_out_task_is_still_compensated_with_its_index_and_item() -> None:
    definition = {
        "workflow_type": "F",
        "initial_state_model": "fuzzapp.parallel.ParState",
        "saga_mode": True,
        "steps": [
            {
                "name": "Par",
                "type": "PARALLEL",
                "iterate_over": "state.items",
                "task_function": "fuzzapp.parallel.task",
                "task_compensate_function": "fuzzapp.parallel.undo",
                "automate_next": True,
            },
            {"name": "After", "function": "fuzzapp.parallel.step"},
        ],
    }
    b = WorkflowBuilder(
        workflow_registry={"F": definition}, persistence_provider=InMemoryPersistenceProvider()
    )
    plan = json.loads(_after_fails({"0": (0, {"a": 1}, 0.0), "1": (0, {"b": 2}, 0.0)}))
    plan["fan_out"] = "item"
    wf = await b.create_workflow("F", {"plan": json.dumps(plan), "items": [5, 6]})
    await wf.run()
    assert wf.status is S.FAILED_ROLLED_BACK
    assert wf.state.undone == ["Par/task:1|1|6|b", "Par/task:0|0|5|a"]
