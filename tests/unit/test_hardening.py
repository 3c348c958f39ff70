"""Regression tests of the engine fixes of issue 8 (items 4, 5, 6, 9, 22), on the in-memory store.

Each test failed on the engine before the fixes (commit 61f6d5a) for the reason its item
describes. The items on every store (1, 7, 9's shared results, 17/18) are in
``tests/contract/test_hardening_on_stores.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import hardening_steps as hs
from hardening_steps import defn, step
from ruvon.builder import WorkflowBuilder
from ruvon.definition.schema import StepType
from ruvon.errors import WorkflowValidationError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import CompensationStatus, StepStatus, WorkflowStatus
from ruvon.steps import STEP_HANDLERS
from ruvon.workflow import Workflow

S = WorkflowStatus
NO_DELAY = {"initial_delay": 0}


def _builder(
    *steps: dict[str, Any], saga: bool = False
) -> tuple[WorkflowBuilder, InMemoryPersistenceProvider]:
    store = InMemoryPersistenceProvider()
    registry = {"T": defn(*steps, saga=saga)}
    return WorkflowBuilder(workflow_registry=registry, persistence_provider=store), store


async def _start(*steps: dict[str, Any], saga: bool = False, **initial: Any) -> Workflow:
    b, _ = _builder(*steps, saga=saga)
    return await b.create_workflow("T", initial)


def _calls(wf: Workflow, step_name: str) -> int:
    return hs.CALLS[(wf.id, step_name)]


async def _lease_released(wf: Workflow) -> bool:
    row = await wf.persistence.load_workflow(wf.id)
    return row.lease_owner is None and row.lease_expires_at is None


async def _stored(wf: Workflow) -> tuple[Any, ...]:
    """What the store has for the workflow: version, status, cursor, state, attempts."""
    row = await wf.persistence.load_workflow(wf.id)
    history = await wf.persistence.step_history(wf.id)
    return (
        row.version,
        row.status,
        row.current_step,
        hs.Box.model_validate_json(row.state),
        [(h.step_name, h.attempt, h.status) for h in history],
    )


# --- item 4: a failed or interrupted attempt leaves no trace in the state -------------------


async def test_cancelled_next_step__leaves_no_partial_change() -> None:
    wf = await _start(step("A", "append_then_sleep"), step("B", "plain"))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(wf.next_step(), 0.05)
    assert wf.state.items == [] and wf.status is S.ACTIVE  # back to the last commit

    await wf.next_step()
    assert wf.status is S.COMPLETED
    assert wf.state.items == ["A", "B"]  # A's first, cancelled, append is gone
    assert _calls(wf, "A") == 2
    assert (await _stored(wf))[3] == wf.state


async def test_base_exception_in_step__propagates_and_leaves_no_partial_change() -> None:
    wf = await _start(step("A", "append_then_abort"), step("B", "plain"))
    with pytest.raises(hs.Abort):
        await wf.next_step()
    assert wf.state.items == [] and wf.status is S.ACTIVE

    await wf.next_step()
    assert wf.status is S.COMPLETED
    assert wf.state.items == ["A", "B"]
    assert _calls(wf, "A") == 2


async def test_failed_compensation__leaves_no_partial_change() -> None:
    wf = await _start(
        step("A", "plain", compensate_function="hardening_steps.undo_then_fail"),
        step("B", "fails"),
        saga=True,
    )
    await wf.next_step()
    assert wf.status is S.COMPENSATION_FAILED
    assert [e.status for e in wf.compensation_journal][-1] is CompensationStatus.FAILED
    # the state A committed: neither B's attempt nor the failed undo changed it
    assert (wf.state.items, wf.state.n) == (["A"], 1)
    assert (await _stored(wf))[3] == wf.state


async def test_cancelled_compensation__leaves_no_partial_change() -> None:
    wf = await _start(
        step("A", "plain", compensate_function="hardening_steps.undo_then_sleep"),
        step("B", "fails"),
        saga=True,
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(wf.next_step(), 0.05)
    assert wf.status is S.COMPENSATING and wf.state.items == ["A"]

    await wf.next_step()
    assert wf.status is S.FAILED_ROLLED_BACK
    assert wf.state.items == ["A", "undo:A"]  # the cancelled undo's append is gone
    assert (_calls(wf, "A"), _calls(wf, "undo:A")) == (1, 2)
    assert (await _stored(wf))[3] == wf.state


async def test_base_exception_in_compensation__leaves_no_partial_change() -> None:
    wf = await _start(
        step("A", "plain", compensate_function="hardening_steps.undo_then_abort"),
        step("B", "fails"),
        saga=True,
    )
    with pytest.raises(hs.Abort):
        await wf.next_step()
    assert wf.status is S.COMPENSATING and wf.state.items == ["A"]

    await wf.next_step()
    assert wf.status is S.FAILED_ROLLED_BACK
    assert (wf.state.items, wf.state.n) == (["A", "undo:A"], 0)
    assert (_calls(wf, "A"), _calls(wf, "undo:A")) == (1, 2)


# --- item 5: only the engine's own timeout is a step timeout --------------------------------


async def test_timeout_error_raised_by_the_step__is_retried_by_retry_on_timeout_error() -> None:
    policy = {"max_attempts": 3, "retry_on": ["TimeoutError"], **NO_DELAY}
    wf = await _start(
        step("Call", "raises_timeout_twice", timeout_seconds=5, retry_policy=policy),
    )
    await wf.next_step()
    assert wf.status is S.COMPLETED, wf.error
    assert wf.state.note == "answered on attempt 3"
    assert [(h.attempt, h.status) for h in wf.history] == [
        (1, StepStatus.FAILED),
        (2, StepStatus.FAILED),
        (3, StepStatus.COMPLETED),
    ]
    assert {h.error.type for h in wf.history if h.error} == {"TimeoutError"}


async def test_only_the_engines_own_timeout__is_a_step_timeout() -> None:
    raised = await _start(step("Call", "raises_timeout_twice", timeout_seconds=5))
    await raised.next_step()
    inner = await _start(step("Call", "own_wait_for_times_out", timeout_seconds=5))
    await inner.next_step()
    too_long = await _start(step("Call", "sleeps_too_long", timeout_seconds=0.05))
    await too_long.next_step()

    assert [(wf.status, wf.error and wf.error.type) for wf in (raised, inner, too_long)] == [
        (S.FAILED, "TimeoutError"),  # the step's own TimeoutError
        (S.FAILED, "TimeoutError"),  # a wait_for inside the step
        (S.FAILED, "StepTimeoutError"),  # the step's timeout_seconds ran out
    ]


# --- item 6: run() stops where the workflow waits for input ---------------------------------


async def test_run__returns_paused_at_a_step_waiting_for_input() -> None:
    wf = await _start(
        step("A", "plain"),
        step("Approve", "takes_input", input_model="hardening_steps.Approval"),
        step("C", "plain"),
    )
    assert await wf.run() == "PAUSED"
    assert wf.status is S.PAUSED and wf.current_step_name == "Approve"
    assert wf.waiting_for is not None
    assert wf.waiting_for["step"] == "Approve"
    assert wf.waiting_for["input_schema"] == hs.Approval.model_json_schema()
    assert _calls(wf, "A") == 1 and _calls(wf, "Approve") == 0
    assert await _lease_released(wf)

    await wf.resume({"approved": True, "by": "ann"})
    assert await wf.run() is S.COMPLETED
    assert wf.state.note == "ann:True" and wf.state.items == ["A", "C"]


async def test_run__pauses_when_the_first_step_waits_for_input() -> None:
    wf = await _start(
        step("Approve", "takes_input", input_model="hardening_steps.Approval"),
        step("B", "plain"),
    )
    assert await wf.run() is S.PAUSED
    assert wf.waiting_for is not None and wf.waiting_for["step"] == "Approve"
    assert wf.waiting_for["input_schema"] == hs.Approval.model_json_schema()
    assert (await _stored(wf))[1] is S.PAUSED

    await wf.resume({"approved": False, "by": "bob"})
    assert wf.status is S.COMPLETED and wf.state.note == "bob:False"


async def test_bad_input_on_resume__raises_and_writes_nothing() -> None:
    wf = await _start(
        step("A", "plain"),
        step("Approve", "takes_input", input_model="hardening_steps.Approval"),
    )
    assert await wf.run() is S.PAUSED
    before = await _stored(wf)

    with pytest.raises(WorkflowValidationError, match="approved"):
        await wf.resume({"approved": "perhaps", "by": "ann"})
    assert await _stored(wf) == before
    assert wf.status is S.PAUSED and _calls(wf, "Approve") == 0

    await wf.resume({"approved": True, "by": "ann"})
    assert wf.status is S.COMPLETED and wf.state.note == "ann:True"


# --- item 9: smaller ones ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "status", "note"),
    [
        ("flaky_then_pause", S.PAUSED, "paused on attempt 2"),
        ("flaky_then_jump", S.COMPLETED, "jumped on attempt 2"),
    ],
)
async def test_directive_on_a_retry__is_recorded_with_its_attempt_number(
    fn: str, status: S, note: str
) -> None:
    policy = {"max_attempts": 2, **NO_DELAY}
    wf = await _start(
        step("D", fn, retry_policy=policy), step("Mid", "plain"), step("Last", "count_up")
    )
    await wf.next_step()
    assert wf.status is status and wf.state.note == note
    first = [(h.step_name, h.attempt, h.status) for h in wf.history][:2]
    assert first == [("D", 1, StepStatus.FAILED), ("D", 2, StepStatus.COMPLETED)]
    assert (await _stored(wf))[4][:2] == first


@pytest.mark.parametrize("timeout", [None, 5], ids=["no-timeout", "timeout_seconds"])
async def test_object_with_async_call__runs_as_a_step(timeout: float | None) -> None:
    keys = {} if timeout is None else {"timeout_seconds": timeout}
    wf = await _start(step("Obj", "callable_step", **keys), step("B", "plain"))
    await wf.next_step()
    assert wf.status is S.COMPLETED, wf.error
    assert wf.state.note == "called Obj" and _calls(wf, "Obj") == 1


async def test_pause_on_the_last_step__resume_merges_the_input_then_completes() -> None:
    wf = await _start(step("A", "plain"), step("Last", "pause"))
    await wf.next_step()
    assert wf.status is S.PAUSED and wf.state.note == "waiting"

    await wf.resume({"note": "given", "tags": ["x"]})
    assert wf.status is S.COMPLETED
    assert (wf.state.note, wf.state.tags, wf.state.items) == ("given", ["x"], ["A"])
    assert (await _stored(wf))[1:4] == (S.COMPLETED, 2, wf.state)


async def test_pause_on_the_last_step__unknown_input_key_raises_and_writes_nothing() -> None:
    wf = await _start(step("A", "plain"), step("Last", "pause"))
    await wf.next_step()
    before = await _stored(wf)

    with pytest.raises(WorkflowValidationError, match="nope"):
        await wf.resume({"nope": 1})
    with pytest.raises(WorkflowValidationError, match="n"):
        await wf.resume({"n": "not a number"})
    assert await _stored(wf) == before
    assert wf.status is S.PAUSED and wf.state.note == "waiting"

    await wf.resume({"n": 7})
    assert wf.status is S.COMPLETED and wf.state.n == 7


# --- item 22: an exception from a handler fails the step, not the caller ---------------------


class _BrokenHandler:
    """The standard handler, except that running the step named ``Boom`` raises."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def run(self, wf: Workflow, step: Any, *args: Any) -> Any:
        if step.name == "Boom":
            raise RuntimeError("the handler itself broke")
        return await self._real.run(wf, step, *args)


@pytest.mark.parametrize(
    ("saga", "status"), [(False, S.FAILED), (True, S.FAILED_ROLLED_BACK)], ids=["plain", "saga"]
)
async def test_exception_from_a_handler__fails_the_step_and_releases_the_lease(
    monkeypatch: pytest.MonkeyPatch, saga: bool, status: S
) -> None:
    monkeypatch.setitem(
        STEP_HANDLERS, StepType.STANDARD, _BrokenHandler(STEP_HANDLERS[StepType.STANDARD])
    )
    wf = await _start(
        step("A", "plain", compensate_function="hardening_steps.undo"),
        step("Boom", "plain"),
        saga=saga,
    )
    await wf.next_step()  # does not raise
    assert wf.status is status
    assert wf.error is not None
    assert (wf.error.type, wf.error.step) == ("RuntimeError", "Boom")
    assert wf.state.items == (["A", "undo:A"] if saga else ["A"])
    assert _calls(wf, "Boom") == 0
    assert await _lease_released(wf)
    stored = await _stored(wf)
    assert stored[1] is status
    assert ("Boom", 1, StepStatus.FAILED) in stored[4]
