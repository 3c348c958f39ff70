"""Bugs of SUB_WORKFLOW and StartSubWorkflowDirective found by ``test_fuzz_subworkflow.py``,
each as the smallest workflow that shows it (functions from ``fuzzapp.subflow``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fuzzapp import subflow

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.status import WorkflowStatus as S


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    subflow.TRACE.clear()
    subflow.SEEN.clear()
    yield


def _plan(**steps: dict[str, Any]) -> str:
    base = {"fails": 0, "x": 1, "child": None, "undo": None}
    return json.dumps({key.replace("__", "."): {**base, **v} for key, v in steps.items()})


def _builder(*child_steps: dict[str, Any]) -> WorkflowBuilder:
    def definition(workflow_type: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "workflow_type": workflow_type,
            "initial_state_model": "fuzzapp.subflow.TreeState",
            "steps": steps,
        }

    start = {
        "name": "s0",
        "function": "fuzzapp.subflow.start_child",
        "retry_policy": {"max_attempts": 2, "initial_delay": 0},
    }
    child = list(child_steps) or [{"name": "s0", "function": "fuzzapp.subflow.forward"}]
    return WorkflowBuilder(
        workflow_registry={
            "Top": definition("Top", [start]),
            "Kid": definition("Kid", child),
        },
        persistence_provider=InMemoryPersistenceProvider(),
    )


def _attempts(history: list[Any]) -> list[tuple[str, int]]:
    return [(r.status.value, r.attempt) for r in history]


async def test_a_directive_raised_on_a_retried_attempt_records_that_attempt() -> None:
    """The step's function failed once, then started the child on attempt 2: the step's
    record says attempt 2 (it said 1, as if the failed attempt had completed)."""
    b = _builder()
    plan = _plan(Top__s0={"fails": 1, "child": "Kid"}, Kid__s0={})
    wf = await b.create_workflow("Top", {"plan": plan})
    assert await wf.run() is S.COMPLETED
    assert subflow.TRACE == ["Top.s0!1", "Top.s0", "Kid.s0"]
    assert _attempts(wf.history) == [("FAILED", 1), ("COMPLETED", 2)]
    assert _attempts((await b.load_workflow(wf.id)).history) == [("FAILED", 1), ("COMPLETED", 2)]


async def test_a_child_failing_after_a_retried_attempt_fails_that_attempt() -> None:
    b = _builder()
    plan = _plan(Top__s0={"fails": 1, "child": "Kid"}, Kid__s0={"fails": 9})
    wf = await b.create_workflow("Top", {"plan": plan})
    assert await wf.run() is S.FAILED_CHILD_WORKFLOW
    assert _attempts(wf.history) == [("FAILED", 1), ("FAILED", 2)]


async def test_the_attempt_is_kept_while_the_parent_waits_for_a_person_below() -> None:
    b = _builder(
        {"name": "s0", "function": "fuzzapp.subflow.forward", "automate_next": True},
        {"name": "s1", "type": "HUMAN_IN_LOOP"},
    )
    plan = _plan(Top__s0={"fails": 1, "child": "Kid"}, Kid__s0={})
    wf = await b.create_workflow("Top", {"plan": plan})
    assert await wf.run() is S.WAITING_CHILD_HUMAN_INPUT
    again = await b.load_workflow(wf.id)  # another process gives the input
    await again.resume({"x": 5})
    assert again.status is S.COMPLETED
    assert _attempts(again.history) == [("FAILED", 1), ("COMPLETED", 2)]


@pytest.mark.parametrize("saga", [False, True], ids=["no-saga", "saga"])
async def test_a_failed_directive_step_leaves_no_trace_of_its_in_place_changes(
    saga: bool,
) -> None:
    b = _builder()
    plan = _plan(Top__s0={"child": "Kid", "mutate": True}, Kid__s0={"fails": 9})
    wf = await b.create_workflow("Top", {"plan": plan})
    if saga:
        wf.enable_saga_mode()
    assert await wf.run() is (S.FAILED_ROLLED_BACK if saga else S.FAILED_CHILD_WORKFLOW)
    assert subflow.TRACE == ["Top.s0", "Kid.s0!1"]
    assert wf.state.log == []
    assert (await b.load_workflow(wf.id)).state.log == []
