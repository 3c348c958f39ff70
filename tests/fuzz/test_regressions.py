"""Every discrepancy the fuzzer found, minimized, as a plain test on the in-memory store and SQLite.

Each test names the behaviour; the workflow is written with the fuzzer's vocabulary
(``fuzz_model.Step``/``Comp``, run by ``fuzzapp.steps``; for control flow ``flow_plan``'s
``Task``/``Decide``/``Loop``, run by ``fuzzapp.flow``), and the assertions spell out the
expected facts rather than calling the reference model. A test marked ``xfail(strict=True)``
is a bug being fixed: the fix makes it pass, and its marker goes (together with the matching
exclusion in ``test_fuzz.OPEN_FINDINGS`` or ``test_fuzz_flow.OPEN_FINDINGS``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flow_plan import Cond, Decide, FlowPlan, Fn, Loop, Route, Task
from fuzz_model import PERMANENT, Comp, Plan, Step, drive
from fuzzapp.models import Inner

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import PersistenceProvider
from ruvon.workflow import Workflow


@contextmanager
def _store(kind: str, directory: Path) -> Iterator[PersistenceProvider]:
    if kind == "memory":
        yield InMemoryPersistenceProvider()
        return
    sqlite = SQLitePersistenceProvider(f"sqlite:///{directory / 'regressions.db'}")
    try:
        yield sqlite
    finally:
        asyncio.run(sqlite.close())


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PersistenceProvider]:
    with _store(request.param, tmp_path) as opened:
        yield opened


def run(store: PersistenceProvider, plan: Plan) -> tuple[Workflow, Workflow]:
    """Drive the plan's workflow to its end; return it live and as loaded back from the store."""

    async def go() -> tuple[Workflow, Workflow]:
        builder = WorkflowBuilder(
            workflow_registry={"Fuzz": plan.definition()}, persistence_provider=store
        )
        wf = await builder.create_workflow("Fuzz", plan.initial_data())
        await drive(wf, plan)
        return wf, await builder.load_workflow(wf.id)

    return asyncio.run(go())


def journal(wf: Workflow) -> list[tuple[str, str, int]]:
    return [(e.step_name, e.status.value, e.attempts) for e in wf.journal]


def history(wf: Workflow) -> list[tuple[str, int, str]]:
    return [(r.step_name, r.attempt, r.status.value) for r in wf.history]


def test_failed_compensation_leaves_no_trace_of_its_in_place_changes(
    store: PersistenceProvider,
) -> None:
    # A's compensation changes the state in place (count -= 1000, undone, tags, inner.label),
    # then raises; B fails and starts the unwind
    plan = Plan(
        steps=(
            Step(name="A", comp=Comp(fails=PERMANENT, dirty=True)),
            Step(name="B", fails=PERMANENT),
        ),
        saga="yaml",
    )
    for wf in run(store, plan):
        assert wf.status == "COMPENSATION_FAILED"
        assert journal(wf) == [("B", "SKIPPED", 0), ("A", "FAILED", 1)]
        assert wf.state.undone == [] and wf.state.count == 0
        assert wf.state.tags == set() and wf.state.inner.label == ""


def test_compensation_with_a_bad_result_leaves_no_trace_of_its_in_place_changes(
    store: PersistenceProvider,
) -> None:
    # the compensation appends to ``undone`` in place, then returns a result that does not fit
    plan = Plan(
        steps=(
            Step(name="A", result={"text": "a"}, comp=Comp(ending="bad", mutate=True)),
            Step(name="B", fails=PERMANENT),
        ),
        saga="yaml",
    )
    for wf in run(store, plan):
        assert wf.status == "COMPENSATION_FAILED"
        assert journal(wf) == [("B", "SKIPPED", 0), ("A", "FAILED", 1)]
        assert wf.state.undone == [] and wf.state.text == "a"


def test_pause_on_a_retry_is_recorded_with_its_attempt_number(store: PersistenceProvider) -> None:
    # attempt 1 raises, attempt 2 raises WorkflowPauseDirective
    plan = Plan(steps=(Step(name="A", fails=1, max_attempts=2, ending="pause"),))
    for wf in run(store, plan):
        assert wf.status == "COMPLETED"
        assert history(wf) == [("A", 1, "FAILED"), ("A", 2, "COMPLETED")]


def test_compensation_directive_on_a_retry_counts_every_attempt(
    store: PersistenceProvider,
) -> None:
    # the compensation raises on attempt 1, raises WorkflowPauseDirective on attempt 2: the
    # journal entry is FAILED after two calls
    plan = Plan(
        steps=(
            Step(name="A", max_attempts=2, comp=Comp(fails=1, ending="pause")),
            Step(name="B", fails=PERMANENT),
        ),
        saga="yaml",
    )
    for wf in run(store, plan):
        assert wf.status == "COMPENSATION_FAILED"
        assert journal(wf) == [("B", "SKIPPED", 0), ("A", "FAILED", 2)]


def test_in_place_break_with_an_empty_result_fails(
    store: PersistenceProvider,
) -> None:
    # the step sets ``state.count = "corrupt"`` (an int field) and returns {}: nothing to
    # merge, but the state no longer fits its model, so the step must fail without a trace
    plan = Plan(steps=(Step(name="A", ending="corrupt"),))
    for wf in run(store, plan):
        assert wf.status == "FAILED"
        assert wf.error is not None and wf.error.step == "A"
        assert wf.state.count == 0
        assert history(wf) == [("A", 1, "FAILED")]


TYPED_VALUES: list[tuple[str, Any]] = [
    ("amount", Decimal("12.50")),
    ("tags", {"red", "blue"}),
    ("inner", Inner(label="nested", weight=3)),
    ("stamp", datetime(2024, 2, 29, 12, 30, tzinfo=UTC)),
]
# (store, field, value): SQLite could not store a result holding a Decimal, a set or a model
TYPED_CASES = [
    pytest.param(kind, key, value, id=f"{kind}-{key}")
    for kind in ("memory", "sqlite")
    for key, value in TYPED_VALUES
]


@pytest.mark.parametrize(("kind", "key", "value"), TYPED_CASES)
def test_step_result_of_any_state_field_type_is_stored(
    kind: str, key: str, value: Any, tmp_path: Path
) -> None:
    plan = Plan(steps=(Step(name="A", result={key: value}),))
    with _store(kind, tmp_path) as store:
        for wf in run(store, plan):
            assert wf.status == "COMPLETED"
            assert getattr(wf.state, key) == value


@pytest.mark.parametrize(("kind", "key", "value"), TYPED_CASES)
def test_compensation_result_of_any_state_field_type_is_stored(
    kind: str, key: str, value: Any, tmp_path: Path
) -> None:
    plan = Plan(
        steps=(
            Step(name="A", comp=Comp(result={key: value})),
            Step(name="B", fails=PERMANENT),
        ),
        saga="yaml",
    )
    with _store(kind, tmp_path) as store:
        for wf in run(store, plan):
            assert wf.status == "FAILED_ROLLED_BACK"
            assert getattr(wf.state, key) == value


# --- control flow (test_fuzz_flow): DECISION and LOOP -----------------------------------------


def run_flow(store: PersistenceProvider, plan: FlowPlan) -> tuple[Workflow, Workflow]:
    """Drive a control-flow plan to its end; return it live and as loaded back."""

    async def go() -> tuple[Workflow, Workflow]:
        builder = WorkflowBuilder(
            workflow_registry={"Flow": plan.definition()}, persistence_provider=store
        )
        wf = await builder.create_workflow("Flow", plan.initial_data())
        while wf.status == "ACTIVE":
            await wf.next_step()
        return wf, await builder.load_workflow(wf.id)

    return asyncio.run(go())


def attempts(wf: Workflow) -> list[tuple[str, int, str]]:
    return [(r.scope, r.attempt, r.status.value) for r in wf.history]


def test_decision_without_a_matching_route_records_the_attempt_its_function_ran(
    store: PersistenceProvider,
) -> None:
    # D's function fails on attempt 1, succeeds on attempt 2; then no route matches: the
    # failure is decided on attempt 2
    plan = FlowPlan(
        steps=(
            Decide(
                name="D",
                max_attempts=2,
                fn=Fn(fail_visit=0, fails=1),
                routes=(Route(cond=Cond(terms=(("x", ">", 5, True),)), target="E"),),
            ),
            Task(name="E"),
        )
    )
    for wf in run_flow(store, plan):
        assert wf.status == "FAILED"
        assert wf.error is not None and (wf.error.step, wf.error.type) == ("D", "StepResultError")
        assert attempts(wf) == [("D", 1, "FAILED"), ("D", 2, "FAILED")]


def test_a_loop_failed_by_a_retried_body_step_is_recorded_as_its_one_attempt(
    store: PersistenceProvider,
) -> None:
    # the body step fails on both its attempts: the loop, which ran once, failed on attempt 1
    body = (Task(name="B", max_attempts=2, fn=Fn(fail_visit=0, fails=PERMANENT)),)
    plan = FlowPlan(steps=(Loop(name="L", body=body),), initial={"items": [7]})
    for wf in run_flow(store, plan):
        assert wf.status == "FAILED"
        assert wf.error is not None and wf.error.step == "B"
        assert attempts(wf) == [
            ("L/iter:0/B", 1, "FAILED"),
            ("L/iter:0/B", 2, "FAILED"),
            ("L", 1, "FAILED"),
        ]


def test_a_jump_back_to_the_first_body_step_stays_in_the_iteration(
    store: PersistenceProvider,
) -> None:
    # WHILE n < 1: D bumps n and routes back to itself (the body's first step) while n < 3,
    # then to E. The jump is inside iteration 0: the while condition (false once n is 1) is
    # not checked again until the iteration ends
    body = (
        Decide(
            name="D",
            fn=Fn(bump=True),
            routes=(Route(cond=Cond(guard=3), target="D"),),
            default="E",
        ),
        Task(name="E"),
    )
    plan = FlowPlan(steps=(Loop(name="W", mode="WHILE", cond=Cond(guard=1), body=body),))
    for wf in run_flow(store, plan):
        assert wf.status == "COMPLETED"
        assert [e.split("|")[0] for e in wf.state.log] == ["D@0:None"] * 3 + ["E@0:None"]
        assert (wf.state.loop_iterations, wf.state.loop_results) == (1, [{"n": 3}])


def test_a_list_grown_past_max_iterations_during_the_loop_fails_it(
    store: PersistenceProvider,
) -> None:
    # one item and max_iterations 2; the body replaces the list by three items: the loop must
    # not run a third iteration (a body that appends on every iteration would never end)
    body = (Task(name="B", fn=Fn(sets={"items": [1, 2, 3]})),)
    plan = FlowPlan(steps=(Loop(name="L", max_iterations=2, body=body),), initial={"items": [1]})
    for wf in run_flow(store, plan):
        assert wf.status == "FAILED"
        assert wf.error is not None and wf.error.step == "L"
        assert "max_iterations=2" in wf.error.message
        assert attempts(wf) == [("L/iter:0/B", 1, "COMPLETED"), ("L", 1, "FAILED")]
