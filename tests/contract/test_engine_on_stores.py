"""The engine on every store: the same workflows, the same outcomes, the same commit counts.

Each test drives real workflows (steps from ``engine_steps``) through a builder bound to the
parametrized store, then reads the result back from the store (``load_workflow`` rehydrates a
new object from the database, not from the object that ran).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import engine_steps
from engine_support import builder, definition, st
from ruvon.builder import WorkflowBuilder
from ruvon.errors import ConcurrentModificationError
from ruvon.models import CompensationStatus, StepStatus, WorkflowStatus
from ruvon.providers.persistence import PersistenceProvider

S = WorkflowStatus
C = CompensationStatus


def _journal(entries: list[Any]) -> list[tuple[str, str]]:
    return [(e.step_name, e.status.value) for e in entries]


async def _audit(store: PersistenceProvider, wid: str) -> list[tuple[str | None, str]]:
    return [(a["from_status"], a["to_status"]) for a in await store.audit_log(wid)]


async def test_success_chain(store: PersistenceProvider) -> None:
    b = builder(st("A"), st("B"), st("C"), persistence_provider=store)
    wf = await b.create_workflow(
        "T", {"note": "hi"}, owner_id="ann", metadata={"tenant": "acme"}, idempotency_key="k-1"
    )
    await wf.next_step()
    assert wf.status is S.COMPLETED

    loaded = await b.load_workflow(wf.id)
    assert loaded is not wf
    assert (loaded.status, loaded.state.log, loaded.state.n, loaded.state.note) == (
        S.COMPLETED,
        ["A", "B", "C"],
        3,
        "hi",
    )
    assert (loaded.owner_id, loaded.metadata, loaded.idempotency_key) == (
        "ann",
        {"tenant": "acme"},
        "k-1",
    )
    assert loaded.version == wf.version and loaded.current_step_name is None
    assert loaded.last_result == {"n": 3}

    history = await store.step_history(wf.id)
    assert [(h.seq, h.step_name, h.status) for h in history] == [
        (0, "A", StepStatus.COMPLETED),
        (1, "B", StepStatus.COMPLETED),
        (2, "C", StepStatus.COMPLETED),
    ]
    assert [h.result for h in history] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert await _audit(store, wf.id) == [(None, "ACTIVE"), ("ACTIVE", "COMPLETED")]
    metrics = dict(await store.metrics(wf.id))
    assert metrics["step_attempts"] == 3.0 and metrics["workflow_duration_ms"] >= 0
    row = await store.load_workflow(wf.id)
    assert (row.lease_owner, row.lease_expires_at) == (None, None)  # released when finished

    again = await b.create_workflow("T", {"note": "other"}, idempotency_key="k-1")
    assert again.id == wf.id and again.status is S.COMPLETED and again.state.note == "hi"


async def test_saga_rollback_journal_is_readable_after_reload(store: PersistenceProvider) -> None:
    b = builder(st("A"), st("B"), st("C"), st("D"), saga=True, persistence_provider=store)
    wf = await b.create_workflow("T", {"fail_at": ["D"]})
    await wf.next_step()
    assert wf.status is S.FAILED_ROLLED_BACK

    loaded = await b.load_workflow(wf.id)
    assert loaded.status is S.FAILED_ROLLED_BACK
    assert loaded.state.log == ["A", "B", "C", "undo:C", "undo:B", "undo:A"]
    assert loaded.state.n == 0
    assert loaded.error is not None and loaded.error.step == "D"
    assert loaded.error.message == "D failed" and loaded.error.type == "RuntimeError"
    expected = [("D", "SKIPPED"), ("C", "COMPLETED"), ("B", "COMPLETED"), ("A", "COMPLETED")]
    assert _journal(loaded.compensation_journal) == expected
    assert await store.compensation_journal(wf.id) == loaded.compensation_journal
    assert [e.forward_seq for e in loaded.compensation_journal] == [3, 2, 1, 0]
    assert [e.result for e in loaded.compensation_journal[1:]] == [{"n": 2}, {"n": 1}, {"n": 0}]

    history = await store.step_history(wf.id)
    assert [(h.step_name, h.status) for h in history][-1] == ("D", StepStatus.FAILED)
    assert history[-1].error is not None and history[-1].error.message == "D failed"
    assert await _audit(store, wf.id) == [
        (None, "ACTIVE"),
        ("ACTIVE", "COMPENSATING"),
        ("COMPENSATING", "FAILED_ROLLED_BACK"),
    ]


async def test_compensation_failed_then_retry_from_a_reloaded_object(
    store: PersistenceProvider,
) -> None:
    b = builder(st("A"), st("B"), st("C"), saga=True, persistence_provider=store)
    wf = await b.create_workflow("T", {"fail_at": ["C"], "fail_comp": ["B"]})
    await wf.next_step()
    assert wf.status is S.COMPENSATION_FAILED

    loaded = await b.load_workflow(wf.id)
    assert loaded.status is S.COMPENSATION_FAILED
    assert _journal(loaded.compensation_journal) == [
        ("C", "SKIPPED"),
        ("B", "FAILED"),
        ("A", "COMPLETED"),
    ]
    failed = loaded.compensation_journal[1]
    assert failed.error is not None and failed.error.message == "undo B failed"

    loaded.state.fail_comp.clear()  # the operator fixed what made the compensation fail
    assert await loaded.retry() is S.FAILED_ROLLED_BACK

    final = await b.load_workflow(wf.id)
    assert final.status is S.FAILED_ROLLED_BACK
    assert _journal(final.compensation_journal)[-1] == ("B", "COMPLETED")
    assert engine_steps.ATTEMPTS[(wf.id, "undo:B")] == 2
    assert engine_steps.ATTEMPTS[(wf.id, "undo:A")] == 1  # not run again
    assert (await _audit(store, wf.id))[-2:] == [
        ("COMPENSATION_FAILED", "COMPENSATING"),
        ("COMPENSATING", "FAILED_ROLLED_BACK"),
    ]


async def test_load_workflow_is_pinned_to_the_definition_snapshot(
    store: PersistenceProvider,
) -> None:
    old = builder(st("A", automate_next=False), st("B"), persistence_provider=store)
    wf = await old.create_workflow("T")
    await wf.next_step()
    assert (wf.status, wf.current_step_name) == (S.ACTIVE, "B")

    # the YAML changes (same type and version!) and a new process loads the running instance
    new = WorkflowBuilder(
        workflow_registry={"T": definition(st("A", automate_next=False), st("B"), st("C"))},
        persistence_provider=store,
    )
    loaded = await new.load_workflow(wf.id)
    assert [s.name for s in loaded.definition.steps] == ["A", "B"]
    await loaded.next_step()
    assert loaded.status is S.COMPLETED and loaded.state.log == ["A", "B"]

    fresh = await new.create_workflow("T")
    assert await fresh.run() is S.COMPLETED and fresh.state.log == ["A", "B", "C"]
    assert len((await new.load_workflow(wf.id)).definition.steps) == 2
    assert len((await old.load_workflow(fresh.id)).definition.steps) == 3


async def test_success_saga_costs_one_commit_per_step_plus_create(
    store: PersistenceProvider,
) -> None:
    b = builder(st("A"), st("B"), st("C"), st("D"), saga=True, persistence_provider=store)
    before = store.commits  # type: ignore[attr-defined]
    wf = await b.create_workflow("T")
    await wf.next_step()
    assert wf.status is S.COMPLETED
    assert store.commits - before == 5  # type: ignore[attr-defined]
    assert (await store.load_workflow(wf.id)).version == 4


async def test_rollback_costs_forward_commits_plus_one_per_compensation_plus_one(
    store: PersistenceProvider,
) -> None:
    b = builder(st("A"), st("B"), st("C"), st("D"), saga=True, persistence_provider=store)
    wf = await b.create_workflow("T", {"fail_at": ["D"]})
    before = store.commits  # type: ignore[attr-defined]
    await wf.next_step()
    assert wf.status is S.FAILED_ROLLED_BACK
    # 3 completed forward steps, then 3 compensations + the final status
    assert store.commits - before == 3 + 4  # type: ignore[attr-defined]
    assert (await store.load_workflow(wf.id)).version == 7


async def test_a_second_object_can_not_advance_while_the_first_holds_the_lease(
    store: PersistenceProvider,
) -> None:
    # saga mode from the YAML: the creator may run its first step without a commit before it,
    # so its creation lease keeps other runners out
    b = builder(
        st("A", automate_next=False),
        st("B", automate_next=False),
        persistence_provider=store,
        saga=True,
    )
    first = await b.create_workflow("T")  # the creator holds the lease
    second = await b.load_workflow(first.id)
    assert second.runner_id != first.runner_id

    with pytest.raises(ConcurrentModificationError) as info:
        await second.next_step()
    assert info.value.lease_owner == first.runner_id
    assert f"being advanced by runner '{first.runner_id}'" in str(info.value)
    row = await store.load_workflow(first.id)
    assert (row.version, row.lease_owner, row.current_step) == (0, first.runner_id, 0)
    assert engine_steps.ATTEMPTS[(first.id, "A")] == 0  # the step did not run

    await first.next_step()  # runs A; the step is not automated, so the lease is released
    row = await store.load_workflow(first.id)
    assert (row.version, row.lease_owner, row.current_step) == (1, None, 1)

    # the second object is stale now: it must reload
    with pytest.raises(ConcurrentModificationError) as info:
        await second.next_step()
    assert (info.value.expected_version, info.value.actual_version) == (0, 1)

    third = await b.load_workflow(first.id)
    assert await third.run() is S.COMPLETED
    assert third.state.log == ["A", "B"]
    assert engine_steps.ATTEMPTS[(first.id, "A")] == 1


async def test_recover_continues_a_workflow_whose_lease_expired(
    store: PersistenceProvider,
) -> None:
    steps = (st("A"), st("B"))
    # saga mode from the YAML: the settings are final at creation, so a workflow whose runner
    # dies before advancing it is recovered
    dying = builder(*steps, persistence_provider=store, lease_seconds=0.05, saga=True)
    alive = builder(*steps, persistence_provider=store, saga=True)  # default 30 s lease
    abandoned = await dying.create_workflow("T")  # the runner "dies" before advancing it
    held = await alive.create_workflow("T")
    # without saga mode its program might still have turned it on: never run by recovery
    plain = builder(*steps, persistence_provider=store, lease_seconds=0.05)
    never_started = await plain.create_workflow("T")
    await asyncio.sleep(0.1)

    rescuer = builder(*steps, persistence_provider=store, saga=True)
    assert await rescuer.recover() == [abandoned.id]
    assert (await store.load_workflow(never_started.id)).version == 0

    done = await rescuer.load_workflow(abandoned.id)
    assert done.status is S.COMPLETED and done.state.log == ["A", "B"]
    row = await store.load_workflow(abandoned.id)
    assert row.lease_owner is None

    untouched = await store.load_workflow(held.id)
    assert (untouched.status, untouched.version, untouched.lease_owner) == (
        S.ACTIVE,
        0,
        held.runner_id,
    )
    assert await store.step_history(held.id) == []
    assert await rescuer.recover() == []

    # the dead runner wakes up: its object is stale and must not run anything
    with pytest.raises(ConcurrentModificationError):
        await abandoned.next_step()
    assert engine_steps.ATTEMPTS[(abandoned.id, "A")] == 1


async def test_database_url_from_the_environment_picks_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

    monkeypatch.setenv("RUVON_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    b = WorkflowBuilder(workflow_registry={"T": definition(st("A"))})
    wf = await b.create_workflow("T")
    await wf.next_step()
    assert isinstance(wf.persistence, SQLitePersistenceProvider)
    assert (tmp_path / "env.db").exists()
    reopened = SQLitePersistenceProvider(tmp_path / "env.db")
    assert (await reopened.load_workflow(wf.id)).status == "COMPLETED"
    await reopened.close()
    await wf.persistence.close()


async def test_many_workflows_in_flight_on_one_store(backend: Any) -> None:
    """Concurrent runners share the store: on Postgres through the pool and its spare
    connection, on SQLite through one connection, in memory directly."""
    store = backend.new_store()
    b = builder(st("A", fn="engine_steps.async_step"), st("B"), st("C"), persistence_provider=store)
    workflows = [await b.create_workflow("T") for _ in range(20)]
    await asyncio.gather(*(wf.next_step() for wf in workflows))
    assert {wf.status for wf in workflows} == {WorkflowStatus.COMPLETED}
    for wf in workflows:
        assert (await store.load_workflow(wf.id)).status == WorkflowStatus.COMPLETED


async def test_a_postgres_pool_of_one_serves_concurrent_runners(backend: Any) -> None:
    if backend.name != "postgres":
        pytest.skip("a Postgres pool setting")
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    store = PostgresPersistenceProvider(backend.target or "", min_size=1, max_size=1)
    backend.opened.append(store)
    b = builder(st("A", fn="engine_steps.async_step"), st("B"), persistence_provider=store)
    workflows = [await b.create_workflow("T") for _ in range(10)]
    await asyncio.wait_for(asyncio.gather(*(wf.next_step() for wf in workflows)), 60)
    assert {wf.status for wf in workflows} == {WorkflowStatus.COMPLETED}


async def test_a_plain_workflow_not_started_yet__goes_to_whoever_starts_it_first(
    store: PersistenceProvider,
) -> None:
    """A respawned program (same idempotency key) need not wait for its dead creator's lease:
    without saga mode no step runs before the first commit, so the version decides."""
    b = builder(st("A"), st("B"), persistence_provider=store)
    creator = await b.create_workflow("T", idempotency_key="k-1")  # holds a 30 s lease
    respawned = await b.create_workflow("T", idempotency_key="k-1")
    assert respawned.id == creator.id and respawned.runner_id != creator.runner_id
    respawned.enable_saga_mode()
    assert await respawned.run() is S.COMPLETED
    assert (await store.load_workflow(creator.id)).saga_mode is True
    # the creator, had it been alive, loses before running anything
    with pytest.raises(ConcurrentModificationError):
        await creator.next_step()
    assert engine_steps.ATTEMPTS[(creator.id, "A")] == 1
