"""Which scope each step and compensation event names, and the parent id every event carries;
a loop body's steps end with step_completed like top-level ones (a failure is told once, by the
loop's step_failed).

Tracing nests a loop body's steps under the loop's span and a child workflow under its parent's
step by these two fields (see ``ruvon.implementations.observability.otel``).
"""

from __future__ import annotations

from typing import Any

import subflow_steps as fx
from flow_support import flow, step
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.providers.observer import EventKind, WorkflowEvent

E = EventKind


class Recorder:
    def __init__(self) -> None:
        self.events: list[WorkflowEvent] = []

    def wants(self, kind: EventKind) -> bool:
        return True

    async def on_event(self, event: WorkflowEvent) -> None:
        self.events.append(event)


def _loop(**body_keys: Any) -> dict[str, Any]:
    reserve = step(
        "Reserve", "flow_steps.reserve", compensate_function="flow_steps.release", **body_keys
    )
    return step("Items", None, type="LOOP", iterate_over="state.items", loop_body=[reserve])


async def test_scopes__a_loop_body_step_and_its_compensations_name_their_iteration() -> None:
    rec = Recorder()
    b = flow(_loop(), step("Boom"), saga=True)
    data = {"items": ["a", "b"], "fail_at": ["Boom"]}
    wf = await b.create_workflow("F", data, workflow_observer=rec)
    await wf.next_step()
    steps = [
        (e.kind, e.step_name, e.scope)
        for e in rec.events
        if e.kind not in (E.WORKFLOW_STARTED, E.STATUS_CHANGED, E.WORKFLOW_ROLLED_BACK)
    ]
    assert steps == [
        (E.STEP_STARTED, "Items", "Items"),
        (E.STEP_STARTED, "Reserve", "Items/iter:0/Reserve"),
        (E.STEP_COMPLETED, "Reserve", "Items/iter:0/Reserve"),
        (E.STEP_STARTED, "Reserve", "Items/iter:1/Reserve"),
        (E.STEP_COMPLETED, "Reserve", "Items/iter:1/Reserve"),
        (E.STEP_COMPLETED, "Items", "Items"),
        (E.STEP_STARTED, "Boom", "Boom"),
        (E.STEP_FAILED, "Boom", "Boom"),
        (E.COMPENSATION_SKIPPED, "Boom", "Boom"),
        (E.COMPENSATION_STARTED, "Reserve", "Items/iter:1/Reserve"),
        (E.COMPENSATION_COMPLETED, "Reserve", "Items/iter:1/Reserve"),
        (E.COMPENSATION_STARTED, "Reserve", "Items/iter:0/Reserve"),
        (E.COMPENSATION_COMPLETED, "Reserve", "Items/iter:0/Reserve"),
    ]
    assert {e.parent_id for e in rec.events} == {None}
    durations = [e.duration_ms for e in rec.events if e.kind is E.STEP_COMPLETED]
    assert all(d is not None and d >= 0 for d in durations) and len(durations) == 3


async def test_scopes__a_failing_body_step_is_told_once_by_its_loop() -> None:
    rec = Recorder()
    b = flow(_loop())
    data = {"items": ["a", "b"], "fail_at": ["Reserve@1"]}
    wf = await b.create_workflow("F", data, workflow_observer=rec)
    await wf.next_step()
    steps = [(e.kind, e.scope) for e in rec.events if e.kind.value.startswith("step_")]
    assert steps == [
        (E.STEP_STARTED, "Items"),
        (E.STEP_STARTED, "Items/iter:0/Reserve"),
        (E.STEP_COMPLETED, "Items/iter:0/Reserve"),
        (E.STEP_STARTED, "Items/iter:1/Reserve"),
        (E.STEP_FAILED, "Items"),
    ]
    [failed] = [e for e in rec.events if e.kind is E.STEP_FAILED]
    assert failed.error is not None and failed.error.step == "Reserve"


async def test_scopes__a_retried_attempt_names_its_scope() -> None:
    rec = Recorder()
    policy = {"max_attempts": 2, "initial_delay": 0}
    b = flow(_loop(retry_policy=policy))
    data = {"items": ["a"], "fail_at": ["Reserve@0"]}
    wf = await b.create_workflow("F", data, workflow_observer=rec)
    await wf.next_step()
    retried = [(e.step_name, e.scope, e.attempt) for e in rec.events if e.kind is E.STEP_RETRIED]
    assert retried == [("Reserve", "Items/iter:0/Reserve", 1)]


async def test_parent_id__every_event_of_a_child_names_its_parent() -> None:
    fx.JOURNAL.clear()
    rec = Recorder()
    pay = {
        "name": "Pay",
        "type": "SUB_WORKFLOW",
        "workflow_type": "Payment",
        "initial_data_template": {"trip_id": "{{ state.trip_id }}", "amount": "1"},
        "automate_next": True,
    }
    b = WorkflowBuilder(
        workflow_registry={
            "Trip": {
                "workflow_type": "Trip",
                "initial_state_model": "subflow_steps.Trip",
                "steps": [pay],
            },
            "Payment": {
                "workflow_type": "Payment",
                "initial_state_model": "subflow_steps.Payment",
                "steps": [{"name": "Capture", "function": "subflow_steps.capture"}],
            },
        },
        persistence_provider=InMemoryPersistenceProvider(),
        workflow_observer=rec,
    )
    parent = await b.create_workflow("Trip")
    await parent.run()
    [child_id] = parent.state.sub_workflow_results
    by_workflow = {(e.workflow_id, e.parent_id) for e in rec.events}
    assert by_workflow == {(parent.id, None), (child_id, parent.id)}
    [child_start] = [e for e in rec.events if e.workflow_id == child_id][:1]
    assert child_start.kind is E.WORKFLOW_STARTED
