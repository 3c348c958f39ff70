"""What the runner and the saga unwind tell observers, and the reasons the audit log keeps.

Each test follows one path through ``runner``/``saga`` and compares the whole event sequence
(kind, step, attempt, error, data) and the whole audit log, so that an event sent with the
wrong step, attempt or error, or a status change stored without its reason, shows.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine_support import builder, st
from ruvon.definition.schema import StepType
from ruvon.providers.observer import EventKind, WorkflowEvent
from ruvon.runtime.merge import merge_result
from ruvon.runtime.outcome import OutcomeKind, StepOutcome
from ruvon.status import WorkflowStatus as S
from ruvon.steps import STEP_HANDLERS
from ruvon.workflow import Workflow

NO_DELAY = {"initial_delay": 0}
UNWOUND = "the step failed; compensate_on_failure is not set"


class Recorder:
    """An observer that wants every event and keeps them."""

    def __init__(self) -> None:
        self.events: list[WorkflowEvent] = []

    def wants(self, kind: EventKind) -> bool:
        return True

    async def on_event(self, event: WorkflowEvent) -> None:
        self.events.append(event)

    def seen(self) -> list[tuple[Any, ...]]:
        """Each event as (kind, step, attempt, error "Type@step", previous status, data)."""
        out = []
        for e in self.events:
            error = None if e.error is None else f"{e.error.type}@{e.error.step}"
            out.append((e.kind, e.step_name, e.attempt, error, e.previous_status, e.data or None))
        return out

    def durations(self, kind: EventKind) -> list[float | None]:
        return [e.duration_ms for e in self.events if e.kind is kind]


async def _audit(wf: Workflow) -> list[tuple[str | None, str, str | None]]:
    rows = await wf.persistence.audit_log(wf.id)
    return [(r["from_status"], r["to_status"], r["reason"]) for r in rows]


E = EventKind


async def test_events__a_retried_step_then_a_failing_one_without_saga() -> None:
    rec = Recorder()
    policy = {"max_attempts": 2, **NO_DELAY}
    b = builder(st("A", retry_policy=policy), st("B"), workflow_observer=rec)
    wf = await b.create_workflow("T", {"flaky": {"A": 1}, "fail_at": ["B"]})
    rec.events.clear()  # WORKFLOW_STARTED, sent by create_workflow
    await wf.next_step()
    assert rec.seen() == [
        (E.STEP_STARTED, "A", None, None, None, None),
        (E.STEP_RETRIED, "A", 1, "Flaky@A", None, {"compensation": False}),
        (E.STEP_COMPLETED, "A", None, None, None, None),
        (E.STEP_STARTED, "B", None, None, None, None),
        # the attempt of the failing step itself (B's first), not the last one of A
        (E.STEP_FAILED, "B", 1, "RuntimeError@B", None, None),
        (E.STATUS_CHANGED, None, None, None, "ACTIVE", None),
        (E.WORKFLOW_FAILED, "B", None, "RuntimeError@B", None, None),
    ]
    [duration] = rec.durations(E.STEP_COMPLETED)
    assert duration is not None and duration >= 0
    assert await _audit(wf) == [
        (None, "ACTIVE", "created"),
        ("ACTIVE", "FAILED", "step 'B' failed"),
    ]


async def test_events__an_unwind_with_a_skip_a_compensation_and_a_failed_retried_one() -> None:
    rec = Recorder()
    policy = {"max_attempts": 2, **NO_DELAY}
    b = builder(
        st("A", retry_policy=policy),
        st("B", comp=None),
        st("C"),
        st("D"),
        saga=True,
        workflow_observer=rec,
    )
    wf = await b.create_workflow("T", {"fail_at": ["D"], "fail_comp": ["A"]})
    rec.events.clear()  # WORKFLOW_STARTED, sent by create_workflow
    await wf.next_step()
    assert wf.status is S.COMPENSATION_FAILED
    forward = [
        (kind, name, None, None, None, None)
        for name in "ABC"
        for kind in (E.STEP_STARTED, E.STEP_COMPLETED)
    ]
    assert rec.seen() == [
        *forward,
        (E.STEP_STARTED, "D", None, None, None, None),
        (E.STEP_FAILED, "D", 1, "RuntimeError@D", None, None),
        (E.COMPENSATION_SKIPPED, "D", None, None, None, {"detail": UNWOUND}),
        (E.STATUS_CHANGED, None, None, None, "ACTIVE", None),
        (E.COMPENSATION_STARTED, "C", None, None, None, None),
        (E.COMPENSATION_COMPLETED, "C", 1, None, None, None),
        (E.COMPENSATION_SKIPPED, "B", None, None, None, {"detail": "no compensate_function"}),
        (E.COMPENSATION_STARTED, "A", None, None, None, None),
        (E.STEP_RETRIED, "A", 1, "RuntimeError@A", None, {"compensation": True}),
        (E.COMPENSATION_FAILED, "A", 2, "RuntimeError@A", None, None),
        (E.STATUS_CHANGED, None, None, None, "COMPENSATING", None),
        # the workflow failed because of D, whatever the unwind met on the way
        (E.WORKFLOW_FAILED, None, None, "RuntimeError@D", None, None),
    ]
    for kind in (E.COMPENSATION_COMPLETED, E.COMPENSATION_FAILED):
        [duration] = rec.durations(kind)
        assert duration is not None and duration >= 0
    assert await _audit(wf) == [
        (None, "ACTIVE", "created"),
        ("ACTIVE", "COMPENSATING", "unwinding"),
        ("COMPENSATING", "COMPENSATION_FAILED", "unwind finished"),
    ]


async def test_events__a_rolled_back_workflow_says_so_with_the_failure() -> None:
    rec = Recorder()
    b = builder(st("A"), st("B"), saga=True, workflow_observer=rec)
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    rec.events.clear()  # WORKFLOW_STARTED, sent by create_workflow
    await wf.next_step()
    assert rec.seen()[-2:] == [
        (E.STATUS_CHANGED, None, None, None, "COMPENSATING", None),
        (E.WORKFLOW_ROLLED_BACK, None, None, "RuntimeError@B", None, None),
    ]


async def test_events__a_unwind_that_compensates_nothing_still_passes_through_compensating() -> (
    None
):
    b = builder(st("A", comp=None), st("B"), saga=True)
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    assert wf.status is S.FAILED_ROLLED_BACK
    assert await _audit(wf) == [
        (None, "ACTIVE", "created"),
        ("ACTIVE", "COMPENSATING", "unwinding"),
        ("COMPENSATING", "FAILED_ROLLED_BACK", "unwind finished"),
    ]


async def test_events__approval_stops_the_unwind_then_it_goes_on() -> None:
    rec = Recorder()
    b = builder(
        st("A", compensation_requires_approval=True), st("B"), saga=True, workflow_observer=rec
    )
    wf = await b.create_workflow("T", {"fail_at": ["B"]})
    await wf.next_step()
    assert wf.status is S.WAITING_COMPENSATION_APPROVAL
    rec.events.clear()
    await wf.approve_compensation("ops")
    assert rec.seen() == [
        (E.STATUS_CHANGED, None, None, None, "WAITING_COMPENSATION_APPROVAL", None),
        (E.COMPENSATION_STARTED, "A", None, None, None, None),
        (E.COMPENSATION_COMPLETED, "A", 1, None, None, None),
        (E.STATUS_CHANGED, None, None, None, "COMPENSATING", None),
        (E.WORKFLOW_ROLLED_BACK, None, None, "RuntimeError@B", None, None),
    ]
    assert await _audit(wf) == [
        (None, "ACTIVE", "created"),
        ("ACTIVE", "COMPENSATING", "unwinding"),
        ("COMPENSATING", "WAITING_COMPENSATION_APPROVAL", "compensation of 'A' needs approval"),
        ("WAITING_COMPENSATION_APPROVAL", "COMPENSATING", "unwinding"),
        ("COMPENSATING", "FAILED_ROLLED_BACK", "unwind finished"),
    ]


async def test_events__pause_resume_and_a_step_that_waits_for_input() -> None:
    rec = Recorder()
    b = builder(
        st("A", fn="engine_steps.pause"),
        st("B"),
        st("C", fn="engine_steps.with_input", input_model="engine_steps.Approval"),
        workflow_observer=rec,
    )
    wf = await b.create_workflow("T")
    rec.events.clear()  # WORKFLOW_STARTED, sent by create_workflow
    await wf.next_step()
    assert rec.seen() == [
        (E.STEP_STARTED, "A", None, None, None, None),
        (E.STEP_COMPLETED, "A", None, None, None, None),
        (E.STATUS_CHANGED, None, None, None, "ACTIVE", None),
        (E.PAUSED, "A", None, None, None, None),
    ]
    rec.events.clear()
    await wf.resume({"note": "hi"})
    assert (wf.status, wf.current_step_name, wf.state.note) == (S.PAUSED, "C", "hi")
    assert rec.seen() == [
        (E.STATUS_CHANGED, None, None, None, "PAUSED", None),
        (E.RESUMED, "B", None, None, None, None),
        (E.STEP_STARTED, "B", None, None, None, None),
        (E.STEP_COMPLETED, "B", None, None, None, None),
        (E.STATUS_CHANGED, None, None, None, "ACTIVE", None),
        (E.PAUSED, "C", None, None, None, None),
    ]
    rec.events.clear()
    await wf.next_step({"by": "ann", "approved": True})
    assert rec.seen() == [
        (E.STATUS_CHANGED, None, None, None, "PAUSED", None),
        (E.RESUMED, "C", None, None, None, None),
        (E.STEP_STARTED, "C", None, None, None, None),
        (E.STEP_COMPLETED, "C", None, None, None, None),
        (E.STATUS_CHANGED, None, None, None, "ACTIVE", None),
        (E.WORKFLOW_COMPLETED, None, None, None, None, None),
    ]
    assert await _audit(wf) == [
        (None, "ACTIVE", "created"),
        ("ACTIVE", "PAUSED", "paused by step 'A'"),
        ("PAUSED", "ACTIVE", "resumed"),
        ("ACTIVE", "PAUSED", "step 'C' waits for input"),
        ("PAUSED", "ACTIVE", "resumed"),
        ("ACTIVE", "COMPLETED", None),
    ]


async def test_events__a_first_step_that_waits_for_input() -> None:
    rec = Recorder()
    b = builder(
        st("A", fn="engine_steps.with_input", input_model="engine_steps.Approval"),
        workflow_observer=rec,
    )
    wf = await b.create_workflow("T")
    rec.events.clear()  # WORKFLOW_STARTED, sent by create_workflow
    await wf.next_step()
    assert rec.seen() == [
        (E.STATUS_CHANGED, None, None, None, "ACTIVE", None),
        (E.PAUSED, "A", None, None, None, None),
    ]
    assert (await _audit(wf))[-1] == ("ACTIVE", "PAUSED", "step 'A' waits for input")


async def test_events__resuming_after_a_pause_on_the_last_step_completes() -> None:
    rec = Recorder()
    b = builder(st("A"), st("Z", fn="engine_steps.pause"), workflow_observer=rec)
    wf = await b.create_workflow("T")
    await wf.next_step()
    rec.events.clear()
    await wf.resume({"note": "done"})
    assert rec.seen() == [
        (E.STATUS_CHANGED, None, None, None, "PAUSED", None),
        (E.WORKFLOW_COMPLETED, None, None, None, None, None),
    ]
    assert (await _audit(wf))[-1] == ("PAUSED", "COMPLETED", "resumed")


class _WaitsForAsync:
    """A handler whose step is dispatched elsewhere (as ``ASYNC`` will be)."""

    async def run(
        self, wf: Any, step: Any, user_input: Any, validated: Any, where: Any
    ) -> StepOutcome:
        return StepOutcome(
            kind=OutcomeKind.WAIT_ASYNC, merged=merge_result(wf.state, {}, step.name)
        )


async def test_events__a_step_that_waits_names_itself_in_the_audit_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(STEP_HANDLERS, StepType.STANDARD, _WaitsForAsync())
    wf = await builder(st("A"), st("B")).create_workflow("T")
    await wf.next_step()
    assert (await _audit(wf))[-1] == ("ACTIVE", "PENDING_ASYNC", "step 'A' waits")


class Selective(Recorder):
    """An observer that subscribes to a few kinds only, as a metrics exporter would."""

    def __init__(self, kinds: set[EventKind]) -> None:
        super().__init__()
        self.kinds = kinds

    def wants(self, kind: EventKind) -> bool:
        return kind in self.kinds


async def test_events__an_observer_gets_exactly_the_kinds_it_subscribed_to() -> None:
    obs = Selective({E.PAUSED, E.RESUMED, E.STEP_RETRIED, E.WORKFLOW_COMPLETED, E.WORKFLOW_FAILED})
    policy = {"max_attempts": 2, **NO_DELAY}
    with_input = {"fn": "engine_steps.with_input", "input_model": "engine_steps.Approval"}
    paths = builder(
        st("A", fn="engine_steps.pause"), st("B"), st("C", **with_input), workflow_observer=obs
    )
    wf = await paths.create_workflow("T")
    await wf.next_step()
    await wf.resume({})
    await wf.next_step({"by": "ann", "approved": True})
    waits_first = await builder(st("A", **with_input), workflow_observer=obs).create_workflow("T")
    await waits_first.next_step()
    pauses_last = await builder(
        st("A"), st("Z", fn="engine_steps.pause"), workflow_observer=obs
    ).create_workflow("T")
    await pauses_last.next_step()
    await pauses_last.resume({})
    fails = await builder(st("A", retry_policy=policy), workflow_observer=obs).create_workflow(
        "T", {"flaky": {"A": 1}, "fail_at": ["A"]}
    )
    await fails.next_step()

    def of(w: Workflow) -> list[tuple[EventKind, str | None]]:
        return [(e.kind, e.step_name) for e in obs.events if e.workflow_id == w.id]

    assert of(wf) == [
        (E.PAUSED, "A"),
        (E.RESUMED, "B"),
        (E.PAUSED, "C"),
        (E.RESUMED, "C"),
        (E.WORKFLOW_COMPLETED, None),
    ]
    assert of(waits_first) == [(E.PAUSED, "A")]
    assert of(pauses_last) == [(E.PAUSED, "Z"), (E.WORKFLOW_COMPLETED, None)]
    assert of(fails) == [(E.STEP_RETRIED, "A"), (E.WORKFLOW_FAILED, "A")]
