"""Running steps: automate_next, sync/async, user input, context, results, retries, timeouts."""

from __future__ import annotations

import sys
from typing import Any

import pytest

import engine_steps
from engine_support import builder, st
from ruvon.errors import IllegalOperationError, WorkflowFinishedError, WorkflowValidationError
from ruvon.models import StepStatus, WorkflowStatus
from ruvon.providers.observer import EventKind, WorkflowEvent

S = WorkflowStatus


class Recorder:
    def __init__(self) -> None:
        self.events: list[WorkflowEvent] = []

    def wants(self, kind: EventKind) -> bool:
        return True

    async def on_event(self, event: WorkflowEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind.value for e in self.events]


async def test_automate_next_runs_the_chain_in_one_call() -> None:
    b = builder(st("A"), st("B"), st("C"))
    wf = await b.create_workflow("T")
    await wf.next_step()
    assert wf.status is S.COMPLETED
    assert wf.state.log == ["A", "B", "C"] and wf.state.n == 3
    assert wf.current_step_name is None


async def test_without_automate_next_each_call_runs_one_step() -> None:
    b = builder(st("A", automate_next=False), st("B", automate_next=False))
    wf = await b.create_workflow("T")
    await wf.next_step()
    assert (wf.status, wf.current_step_name, wf.state.log) == (S.ACTIVE, "B", ["A"])
    await wf.next_step()
    assert wf.status is S.COMPLETED


async def test_run_advances_until_finished() -> None:
    b = builder(st("A", automate_next=False), st("B", automate_next=False))
    wf = await b.create_workflow("T")
    assert await wf.run() is S.COMPLETED


async def test_ten_thousand_automated_steps_do_not_recurse() -> None:
    steps = [st(f"s{i}", comp=None) for i in range(10_000)]
    b = builder(*steps)
    wf = await b.create_workflow("T")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # a recursive runner would blow up long before 10,000 steps
    try:
        await wf.next_step()
    finally:
        sys.setrecursionlimit(limit)
    assert wf.status is S.COMPLETED and wf.state.n == 10_000


async def test_async_steps_run() -> None:
    b = builder(st("A", fn="engine_steps.async_step"), st("B"))
    wf = await b.create_workflow("T")
    await wf.next_step()
    assert wf.status is S.COMPLETED and wf.state.log == ["A", "B"]


async def test_user_input_reaches_the_first_step_only() -> None:
    fn = "engine_steps.records_input"
    b = builder(st("A", fn=fn), st("B", fn=fn), st("C", fn=fn))
    wf = await b.create_workflow("T")
    engine_steps.INPUTS.clear()
    await wf.next_step(user_input={"note": "hi"})
    assert wf.status is S.COMPLETED  # one call ran the whole automated chain
    assert engine_steps.INPUTS == [("A", {"note": "hi"}), ("B", {}), ("C", {})]


async def test_input_model_validates_user_input() -> None:
    b = builder(st("A", fn="engine_steps.with_input", input_model="engine_steps.Approval"))
    wf = await b.create_workflow("T")
    with pytest.raises(WorkflowValidationError, match="approved"):
        await wf.next_step(user_input={"by": "ann"})
    assert wf.status is S.ACTIVE and wf.version == 0  # nothing was written
    await wf.next_step(user_input={"by": "ann", "approved": True})
    assert wf.state.note == "ann:True"


async def test_step_context_fields() -> None:
    b = builder(st("A"), st("B"))
    wf = await b.create_workflow("T")
    engine_steps.CONTEXTS.clear()
    await wf.next_step()
    first, second = engine_steps.CONTEXTS
    assert (first.workflow_id, first.step_name, first.step_index, first.attempt) == (
        wf.id,
        "A",
        0,
        1,
    )
    assert first.persistence is wf.persistence
    assert first.previous_step_result is None
    assert second.previous_step_result == {"n": 1}
    assert first.idempotency_key != second.idempotency_key
    assert first.workflow_type == "T"


async def test_context_persistence_log_execution() -> None:
    b = builder(st("A", fn="engine_steps.logs"))
    wf = await b.create_workflow("T")
    await wf.next_step()
    logs = await wf.persistence.execution_logs(wf.id)
    assert logs[0]["message"] == "hello from a step" and logs[0]["step_name"] == "A"


async def test_step_exception_does_not_escape_and_is_recorded() -> None:
    b = builder(st("A"), st("B"))
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    assert wf.status is S.FAILED
    assert wf.error is not None
    assert (wf.error.type, wf.error.step, wf.error.message) == ("RuntimeError", "B", "B failed")
    assert wf.current_step_name == "B"
    history = await wf.persistence.step_history(wf.id)
    assert [(r.step_name, r.status) for r in history] == [
        ("A", StepStatus.COMPLETED),
        ("B", StepStatus.FAILED),
    ]


async def test_failure_is_reported_once() -> None:
    rec = Recorder()
    b = builder(st("A"), st("B"), st("C"), workflow_observer=rec)
    wf = await b.create_workflow("T", {"fail_at": ["C"]})
    await wf.next_step()
    assert rec.kinds().count("step_failed") == 1
    assert rec.kinds().count("workflow_failed") == 1


async def test_result_that_does_not_fit_fails_the_step() -> None:
    b = builder(st("A", fn="engine_steps.bad_result"))
    wf = await b.create_workflow("T")
    await wf.next_step()
    assert wf.status is S.FAILED and wf.error is not None
    assert wf.error.type == "StepResultError" and "amount" in wf.error.message
    assert wf.state.amount == 0.0


@pytest.mark.parametrize(
    ("fn", "text"),
    [("engine_steps.unknown_key", "nope"), ("engine_steps.not_a_dict", "returned list")],
)
async def test_bad_results_fail_the_step(fn: str, text: str) -> None:
    wf = await builder(st("A", fn=fn)).create_workflow("T")
    await wf.next_step()
    assert wf.status is S.FAILED and wf.error is not None and text in wf.error.message


async def test_none_result_keeps_in_place_changes() -> None:
    wf = await builder(st("A", fn="engine_steps.returns_none")).create_workflow("T")
    await wf.next_step()
    assert wf.status is S.COMPLETED and wf.state.note == "set in place"


async def test_retry_policy_retries_then_succeeds_with_same_idempotency_key() -> None:
    policy = {"max_attempts": 3, "initial_delay": 0, "retry_on": ["engine_steps.Flaky"]}
    rec = Recorder()
    b = builder(st("A", retry_policy=policy), workflow_observer=rec)
    wf = await b.create_workflow("T", {"flaky": {"A": 2}})
    engine_steps.CONTEXTS.clear()
    await wf.next_step()
    assert wf.status is S.COMPLETED
    assert [c.attempt for c in engine_steps.CONTEXTS] == [1, 2, 3]
    assert len({c.idempotency_key for c in engine_steps.CONTEXTS}) == 1
    assert rec.kinds().count("step_retried") == 2
    history = await wf.persistence.step_history(wf.id)
    assert [(r.attempt, r.status) for r in history] == [
        (1, StepStatus.FAILED),
        (2, StepStatus.FAILED),
        (3, StepStatus.COMPLETED),
    ]


async def test_retry_policy_gives_up_after_max_attempts() -> None:
    policy = {"max_attempts": 2, "initial_delay": 0}
    wf = await builder(st("A", retry_policy=policy)).create_workflow("T", {"flaky": {"A": 5}})
    await wf.next_step()
    assert wf.status is S.FAILED
    assert engine_steps.ATTEMPTS[(wf.id, "A")] == 2


async def test_retry_on_other_exceptions_fails_at_once() -> None:
    policy = {"max_attempts": 5, "initial_delay": 0, "retry_on": ["Flaky"]}
    wf = await builder(st("A", retry_policy=policy)).create_workflow(
        "T", {"flaky": {"A": 5}, "fatal": True}
    )
    await wf.next_step()
    assert wf.status is S.FAILED and wf.error is not None and wf.error.type == "Fatal"
    assert engine_steps.ATTEMPTS[(wf.id, "A")] == 1


async def test_backoff_delays_are_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("ruvon.runtime.attempts.asyncio.sleep", fake_sleep)
    policy = {"max_attempts": 4, "initial_delay": 0.5, "backoff": 3, "max_delay": 2}
    wf = await builder(st("A", retry_policy=policy)).create_workflow("T", {"flaky": {"A": 3}})
    await wf.next_step()
    assert wf.status is S.COMPLETED and slept == [0.5, 1.5, 2.0]


async def test_timeout_fails_a_slow_async_step() -> None:
    b = builder(st("A", fn="engine_steps.async_step", timeout_seconds=0.05))
    wf = await b.create_workflow("T", {"sleep": 5})
    await wf.next_step()
    assert wf.status is S.FAILED and wf.error is not None
    assert wf.error.type == "StepTimeoutError" and "0.05" in wf.error.message


async def test_timeout_is_retried_by_the_policy() -> None:
    policy = {"max_attempts": 2, "initial_delay": 0, "retry_on": ["StepTimeoutError"]}
    b = builder(st("A", fn="engine_steps.async_step", timeout_seconds=0.02, retry_policy=policy))
    wf = await b.create_workflow("T", {"sleep": 5})
    engine_steps.CONTEXTS.clear()
    await wf.next_step()
    history = await wf.persistence.step_history(wf.id)
    assert [r.attempt for r in history] == [1, 2] and wf.status is S.FAILED


async def test_jump_directive_skips_ahead() -> None:
    b = builder(st("A", fn="engine_steps.jump_to_last"), st("B"), st("Last"))
    wf = await b.create_workflow("T")
    await wf.next_step()
    assert wf.status is S.COMPLETED and wf.state.log == ["Last"] and wf.state.note == "jumped"


async def test_pause_directive_waits_for_resume() -> None:
    b = builder(st("A", fn="engine_steps.pause"), st("B"))
    wf = await b.create_workflow("T")
    await wf.next_step()
    assert wf.status is S.PAUSED and wf.state.note == "waiting"
    with pytest.raises(IllegalOperationError):
        await wf.retry()
    await wf.resume({"note": "human"})
    assert wf.status is S.COMPLETED and wf.state.note == "human"


@pytest.mark.parametrize("fail", [False, True])
async def test_next_step_on_a_finished_workflow_raises(fail: bool) -> None:
    wf = await builder(st("A")).create_workflow("T", {"fail_at": ["A"] if fail else []})
    await wf.next_step()
    with pytest.raises(WorkflowFinishedError, match=wf.id):
        await wf.next_step()


async def test_state_and_status_are_persisted_each_step() -> None:
    b = builder(st("A", automate_next=False), st("B"))
    wf = await b.create_workflow("T")
    await wf.next_step()
    loaded = await b.load_workflow(wf.id)
    assert (loaded.status, loaded.current_step_name, loaded.state.log) == (S.ACTIVE, "B", ["A"])
    await loaded.next_step()
    assert loaded.status is S.COMPLETED


async def test_concurrent_next_step_on_one_object_is_refused() -> None:
    import asyncio

    b = builder(st("A", fn="engine_steps.async_step"))
    wf = await b.create_workflow("T", {"sleep": 0.05})
    first = asyncio.ensure_future(wf.next_step())
    await asyncio.sleep(0.01)
    with pytest.raises(IllegalOperationError, match="already being advanced"):
        await wf.next_step()
    await first
    assert wf.status is S.COMPLETED


async def test_observer_exceptions_never_fail_the_workflow() -> None:
    class Broken(Recorder):
        async def on_event(self, event: WorkflowEvent) -> None:
            raise ValueError("observer bug")

    wf = await builder(st("A"), workflow_observer=Broken()).create_workflow("T")
    await wf.next_step()
    assert wf.status is S.COMPLETED


async def test_to_dict_is_json_ready() -> None:
    import json

    wf = await builder(st("A")).create_workflow("T")
    await wf.next_step()
    data = wf.to_dict()
    json.dumps(data)
    assert data["status"] == "COMPLETED" and data["state"]["n"] == 1


async def test_bad_input_on_resume_writes_nothing() -> None:
    b = builder(
        st("A", fn="engine_steps.pause"),
        st("B", fn="engine_steps.with_input", input_model="engine_steps.Approval"),
    )
    wf = await b.create_workflow("T")
    await wf.next_step()
    version = wf.version
    with pytest.raises(WorkflowValidationError, match="approved"):
        await wf.resume({"by": "ann"})
    assert wf.status is S.PAUSED and wf.version == version
    await wf.resume({"by": "ann", "approved": False})
    assert wf.status is S.COMPLETED and wf.state.note == "ann:False"


async def test_pause_on_the_last_step_waits_then_completes() -> None:
    wf = await builder(st("A"), st("Z", fn="engine_steps.pause")).create_workflow("T")
    await wf.next_step()
    assert wf.status is S.PAUSED
    await wf.resume({})
    assert wf.status is S.COMPLETED


async def test_automated_chain_stops_before_a_step_that_needs_input() -> None:
    b = builder(
        st("A"),
        st("B", fn="engine_steps.with_input", input_model="engine_steps.Approval"),
    )
    wf = await b.create_workflow("T")
    await wf.next_step()
    assert (wf.status, wf.current_step_name) == (S.PAUSED, "B")
    assert wf.waiting_for is not None and wf.waiting_for["step"] == "B"
    assert "approved" in wf.waiting_for["input_schema"]["properties"]
    await wf.next_step({"by": "bo", "approved": True})
    assert wf.status is S.COMPLETED


async def test_failed_attempt_leaves_no_in_place_changes() -> None:
    policy = {"max_attempts": 2, "initial_delay": 0}
    wf = await builder(
        st("A"), st("B", fn="engine_steps.mutate_then_fail", retry_policy=policy), saga=True
    ).create_workflow("T")
    await wf.next_step()
    assert wf.status is S.FAILED_ROLLED_BACK
    # each attempt appended then raised; neither append survives, the undo of A does
    assert wf.state.log == ["A", "undo:A"]


async def test_error_keeps_a_readable_traceback_of_the_step() -> None:
    wf = await builder(st("A"), st("B")).create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    assert wf.error is not None and wf.error.traceback is not None
    trace = wf.error.traceback
    assert trace.startswith("Traceback (most recent call last):")
    assert (
        "in _maybe_fail" in trace and 'raise RuntimeError(f"{context.step_name} failed")' in trace
    )
    assert trace.rstrip().endswith("builtins.RuntimeError: B failed")


@pytest.mark.parametrize("bad", ["str", ["a"], 3, {1: 2}])
async def test_user_input_that_is_not_a_dict_of_names_is_the_callers_error(bad: Any) -> None:
    wf = await builder(st("A"), st("B"), saga=True).create_workflow("T")
    with pytest.raises(WorkflowValidationError, match="must be a dict with string keys"):
        await wf.next_step(bad)
    assert (wf.status, wf.current_step, wf.state.log) == (S.ACTIVE, 0, [])
    assert await wf.persistence.step_history(wf.id) == []
