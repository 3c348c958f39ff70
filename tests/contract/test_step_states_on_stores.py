"""The state after each top-level step, kept with its record for the timeline (``ruvon show``,
the dashboard), on every store; read back through a second store object, as another process
would. Loop body steps and failed attempts keep none; a state over the size limit is not kept;
loading a workflow does not read them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from contract_backends import Backend

import subflow_steps as fx
from ruvon.builder import WorkflowBuilder
from ruvon.models import StepStatus
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime import step_run
from ruvon.status import WorkflowStatus as S


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    fx.JOURNAL.clear()
    fx.FAIL.clear()
    yield
    fx.FAIL.clear()


comp = fx.step


def legs_trip(*steps: dict[str, Any]) -> dict[str, Any]:
    return {
        "workflow_type": "Trip",
        "initial_state_model": "subflow_steps.Legs",
        "saga_mode": True,
        "steps": list(steps),
    }


async def second(backend: Backend) -> PersistenceProvider:
    other: PersistenceProvider = backend.new_store()
    await other.initialize()
    return other


async def test_each_top_level_step_keeps_the_state_it_left(
    store: PersistenceProvider, backend: Backend
) -> None:
    loop = {
        "name": "Each",
        "type": "LOOP",
        "mode": "ITERATE",
        "iterate_over": "legs",
        "loop_body": [comp("Finalize_Leg", "finalize")],
        "automate_next": True,
    }
    b = WorkflowBuilder(
        workflow_registry={
            "Trip": legs_trip(
                comp("Reserve", "reserve", automate_next=True), loop, comp("Finalize", "finalize")
            )
        },
        persistence_provider=store,
    )
    wf = await b.create_workflow("Trip", {"legs": ["a", "b"]})
    assert await wf.run() is S.COMPLETED
    other = await second(backend)
    try:
        history = await other.step_history(wf.id)
        states = {seq: json.loads(s) for seq, s in (await other.step_states(wf.id)).items()}
    finally:
        await other.close()
    by_scope = {r.scope: r.seq for r in history}
    # the top-level steps, each with the state it left; the loop body's steps none
    assert set(states) == {by_scope["Reserve"], by_scope["Each"], by_scope["Finalize"]}
    assert states[by_scope["Reserve"]]["reserved"] is True
    assert states[by_scope["Reserve"]]["finalized"] is False
    assert states[by_scope["Finalize"]]["finalized"] is True
    assert all(r.state is None for r in history)  # not read with the history
    assert all(r.state is None for r in wf.history)  # nor kept by the object once committed


async def test_a_failed_attempt_keeps_no_state_and_a_big_state_is_not_kept(
    store: PersistenceProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(step_run, "STATE_SNAPSHOT_LIMIT", 60)  # smaller than this state
    fx.FAIL.add("finalize")
    b = WorkflowBuilder(
        workflow_registry={
            "Trip": legs_trip(
                comp("Reserve", "reserve", "unreserve", automate_next=True),
                comp("Finalize", "finalize"),
            )
        },
        persistence_provider=store,
    )
    wf = await b.create_workflow("Trip")
    assert await wf.run() is S.FAILED_ROLLED_BACK
    history = await store.step_history(wf.id)
    assert [r.status for r in history] == [StepStatus.COMPLETED, StepStatus.FAILED]
    assert await store.step_states(wf.id) == {}
