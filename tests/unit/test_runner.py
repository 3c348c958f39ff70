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


# --- paths the mutation run (tests/mutation) found untested ---------------------------------


@pytest.mark.parametrize(
    ("saga", "fail", "status", "hint"),
    [
        (False, [], "COMPLETED", ""),
        (False, ["A"], "FAILED", " (use retry() to run it again)"),
        (True, ["A"], "FAILED_ROLLED_BACK", ""),
    ],
)
async def test_next_step_on_a_finished_workflow__names_it_and_says_when_retry_helps(
    saga: bool, fail: list[str], status: str, hint: str
) -> None:
    wf = await builder(st("A"), saga=saga).create_workflow("T", {"fail_at": fail})
    await wf.next_step()
    with pytest.raises(WorkflowFinishedError) as info:
        await wf.next_step()
    assert str(info.value) == (
        f"workflow '{wf.id}' is {status}; a finished workflow can not be advanced{hint}"
    )
    assert (info.value.workflow_id, info.value.status) == (wf.id, status)


async def test_next_step_on_a_compensation_failed_workflow__points_to_retry() -> None:
    b = builder(st("A"), st("B"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["B"], "fail_comp": ["A"]})
    await wf.next_step()
    with pytest.raises(WorkflowFinishedError, match=r"\(use retry\(\) to run it again\)$"):
        await wf.next_step()


async def test_next_step_while_a_compensation_awaits_approval__is_an_illegal_operation() -> None:
    b = builder(st("A", compensation_requires_approval=True), st("B"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    with pytest.raises(IllegalOperationError) as info:
        await wf.next_step()
    assert type(info.value) is IllegalOperationError  # not finished: it can go on
    assert str(info.value) == (
        f"workflow '{wf.id}' is WAITING_COMPENSATION_APPROVAL and can not be advanced by "
        "next_step()"
    )
    assert (info.value.workflow_id, info.value.status) == (wf.id, "WAITING_COMPENSATION_APPROVAL")


async def test_cancel_asked_while_the_last_step_of_a_call_runs__is_honoured_when_it_ends() -> None:
    import asyncio

    b = builder(st("A", fn="engine_steps.async_step", automate_next=False), st("B"))
    wf = await b.create_workflow("T", {"sleep": 0.05})
    call = asyncio.ensure_future(wf.next_step())
    await asyncio.sleep(0.01)
    assert await wf.cancel("stop") is S.ACTIVE  # recorded: A is running
    await call
    assert wf.status is S.CANCELLED and wf.state.log == ["A"]
    assert (await wf.persistence.load_workflow(wf.id)).status is S.CANCELLED


async def test_the_lease_keeper_holds_a_workflow_only_while_a_call_advances_it() -> None:
    import asyncio

    from ruvon.runtime.leases import keeper

    b = builder(st("A", fn="engine_steps.async_step"), st("B"))
    wf = await b.create_workflow("T", {"sleep": 0.05})
    call = asyncio.ensure_future(wf.next_step())
    await asyncio.sleep(0.01)
    assert wf in keeper().held
    await call
    assert wf.status is S.COMPLETED and wf not in keeper().held


async def test_input_after_a_pause_on_the_last_step__that_does_not_fit_names_step_and_model() -> (
    None
):
    b = builder(st("A"), st("B"), st("Z", fn="engine_steps.pause"))
    wf = await b.create_workflow("T")
    await wf.next_step()
    with pytest.raises(WorkflowValidationError) as info:
        await wf.resume({"nope": 1})
    assert str(info.value) == (
        f"input for workflow '{wf.id}', paused after its last step, does not fit S: "
        "key 'nope' is not a field of S"
    )


async def test_every_recorded_attempt_has_its_times_and_failures_their_error() -> None:
    import time

    policy = {"max_attempts": 2, "initial_delay": 0}
    b = builder(st("A", retry_policy=policy), st("P", fn="engine_steps.pause"), st("C"))
    wf = await b.create_workflow("T", {"flaky": {"A": 1}, "fail_at": ["C"]})
    before = time.time()
    await wf.next_step()
    await wf.resume({})
    after = time.time()
    history = await wf.persistence.step_history(wf.id)
    summary = [
        (r.step_name, r.attempt, r.status, r.error and f"{r.error.type}@{r.error.step}")
        for r in history
    ]
    assert summary == [
        ("A", 1, StepStatus.FAILED, "Flaky@A"),
        ("A", 2, StepStatus.COMPLETED, None),
        ("P", 1, StepStatus.COMPLETED, None),  # the attempt that raised the directive
        ("C", 1, StepStatus.FAILED, "RuntimeError@C"),
    ]
    for r in history:  # each attempt's own times, taken while it ran
        assert r.ended_at is not None and before <= r.started_at <= r.ended_at <= after, r


async def test_a_step_its_handler_failed__is_recorded_with_the_handlers_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from ruvon.definition.schema import StepType
    from ruvon.steps import STEP_HANDLERS

    class Broken:
        async def run(self, *args: object) -> None:
            raise RuntimeError("the handler broke")

    monkeypatch.setitem(STEP_HANDLERS, StepType.STANDARD, Broken())
    wf = await builder(st("A")).create_workflow("T")
    before = time.time()
    await wf.next_step()
    after = time.time()
    [record] = await wf.persistence.step_history(wf.id)
    assert record.error is not None and (record.error.type, record.error.step) == (
        "RuntimeError",
        "A",
    )
    assert record.ended_at is not None
    assert before <= record.started_at <= record.ended_at <= after


async def test_step_and_compensation_contexts_carry_the_scope_of_their_step() -> None:
    wf = await builder(st("A"), st("B"), saga=True).create_workflow("T", {"fail_at": ["B"]})
    engine_steps.CONTEXTS.clear()
    await wf.next_step()
    assert [(c.step_name, c.is_compensation, c.scope) for c in engine_steps.CONTEXTS] == [
        ("A", False, "A"),
        ("B", False, "B"),
        ("A", True, "A"),
    ]


async def test_the_executor_is_told_which_calls_are_async_and_which_have_a_timeout() -> None:
    from ruvon.implementations.execution.sync import SyncExecutor
    from ruvon.providers.execution import StepCall

    calls: list[tuple[str, bool, bool, float | None]] = []

    class Recording(SyncExecutor):
        async def execute(self, call: StepCall) -> Any:
            ctx = call.context
            calls.append((ctx.step_name, ctx.is_compensation, call.is_async, call.timeout_seconds))
            return await super().execute(call)

    b = builder(
        st("A", fn="engine_steps.async_step", comp="runtime_steps.slow_undo", timeout_seconds=0.05),
        st("B"),
        saga=True,
        execution_provider=Recording(),
    )
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    assert calls == [
        ("A", False, True, 0.05),
        ("B", False, False, None),
        # a compensation is not cut short by its step's timeout (it runs for 0.1 s here)
        ("A", True, True, None),
    ]
    assert wf.status is S.FAILED_ROLLED_BACK and wf.state.log == ["A", "undo:A"]


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        ("runtime_steps.jump_nowhere", "step 'A' jumped to unknown step 'Nowhere'"),
        (
            "runtime_steps.raise_unknown_directive",
            "step 'A' raised Unknown, which is not a directive this version of Ruvon knows",
        ),
    ],
    ids=["unknown-target", "unknown-directive"],
)
async def test_a_directive_the_engine_can_not_follow__fails_the_step_saying_why(
    fn: str, message: str
) -> None:
    wf = await builder(st("A", fn=fn), st("B")).create_workflow("T")
    await wf.next_step()
    assert wf.status is S.FAILED and wf.error is not None
    assert (wf.error.type, wf.error.step, wf.error.message) == ("StepResultError", "A", message)
    assert wf.state.note is None  # the directive's result is not merged


async def test_bad_input_for_a_step__names_the_step_and_its_model() -> None:
    b = builder(st("A", fn="engine_steps.with_input", input_model="engine_steps.Approval"))
    wf = await b.create_workflow("T")
    with pytest.raises(WorkflowValidationError) as info:
        await wf.next_step({"by": "ann"})
    assert str(info.value) == "input for step 'A' does not fit Approval: approved: Field required"


async def test_a_result_that_does_not_fit__names_the_step_that_returned_it() -> None:
    wf = await builder(st("A", fn="engine_steps.unknown_key")).create_workflow("T")
    await wf.next_step()
    assert wf.error is not None
    assert wf.error.message == (
        "step 'A' returned key 'nope' which is not a field of S (its model forbids other keys)"
    )


async def test_user_input_that_is_not_a_dict__is_named_by_type_and_shown_cut_short() -> None:
    wf = await builder(st("A")).create_workflow("T")
    with pytest.raises(WorkflowValidationError) as info:
        await wf.next_step("x" * 100)  # type: ignore[arg-type]
    assert str(info.value).split(", not ", 1)[1] == "str: " + repr("x" * 80)


@pytest.mark.parametrize("saga", [False, True])
async def test_a_workflow_is_marked_started_once__before_its_first_step(saga: bool) -> None:
    b = builder(st("A", automate_next=False), st("B", automate_next=False), saga=saga)
    store = b.persistence_provider
    wf = await b.create_workflow("T")
    per_call = []
    for _ in range(2):
        commits = store.commits  # type: ignore[union-attr]
        await wf.next_step()
        per_call.append(store.commits - commits)  # type: ignore[union-attr]
    # without saga mode in the YAML, the first call first commits the settings ("started"), so
    # that recovery never runs the workflow with settings its program did not give it; the
    # second call claims the lease A's commit released, then commits B
    assert per_call == ([1, 2] if saga else [2, 2])
