"""Every write goes through the lease; an operator can always cancel (issue 8, items 8, 10, 11).

On every store: ``cancel()`` from a second object while the first runs a step records the
request and the running runner honours it at its next transition; ``await
enable_saga_mode()`` from an object that does not hold the lease is refused and leaves the
runner's lease alone; a workflow created without saga mode and never started is not run by
recovery, so its program's saga mode is never lost.
"""

from __future__ import annotations

import asyncio
import time

import pytest

import engine_steps
import lease_steps
from engine_support import builder, st
from ruvon.errors import ConcurrentModificationError
from ruvon.models import CompensationStatus as C
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime.status import WorkflowStatus as S


@pytest.mark.parametrize("saga", [False, True], ids=["plain", "saga"])
async def test_cancel_while_another_runner_runs_a_step__is_honoured_at_its_next_transition(
    store: PersistenceProvider, saga: bool
) -> None:
    b = builder(
        st("A"), st("B", fn="lease_steps.held"), st("C"), persistence_provider=store, saga=saga
    )
    runner = await b.create_workflow("T")
    opened, entered = lease_steps.gate(runner.id)
    running = asyncio.create_task(runner.next_step())
    await entered.wait()  # B is running; A is committed; the runner holds the lease

    operator = await b.load_workflow(runner.id)
    assert await operator.cancel("stop it") is S.ACTIVE  # recorded, not carried out
    assert operator.cancel_requested == "stop it"
    assert (await store.load_workflow(runner.id)).cancel_requested == "stop it"

    opened.set()
    await running
    done = await b.load_workflow(runner.id)
    assert runner.status is done.status
    assert engine_steps.ATTEMPTS[(runner.id, "C")] == 0  # nothing ran after the request
    assert (await store.load_workflow(runner.id)).cancel_requested is None
    if saga:
        # B completed before the runner saw the request: both A and B are undone
        assert done.status is S.CANCELLED
        assert [(e.step_name, e.status) for e in done.journal if e.status is not C.STARTED] == [
            ("B", C.COMPLETED),
            ("A", C.COMPLETED),
        ]
        assert done.state.log == ["A", "B", "undo:B", "undo:A"]
    else:
        assert done.status is S.CANCELLED and done.state.log == ["A", "B"]
    row = await store.load_workflow(runner.id)
    assert row.lease_owner is None


async def test_cancel_of_a_finished_workflow_is_still_refused(store: PersistenceProvider) -> None:
    b = builder(st("A"), persistence_provider=store)
    wf = await b.create_workflow("T")
    await wf.run()
    with pytest.raises(Exception, match="can not be cancelled"):
        await (await b.load_workflow(wf.id)).cancel()


async def test_awaited_saga_mode_without_the_lease__is_refused_and_keeps_the_runners_lease(
    store: PersistenceProvider,
) -> None:
    b = builder(st("A"), st("B", fn="lease_steps.held"), st("C"), persistence_provider=store)
    runner = await b.create_workflow("T")
    opened, entered = lease_steps.gate(runner.id)
    running = asyncio.create_task(runner.next_step())
    await entered.wait()
    before = await store.load_workflow(runner.id)

    other = await b.load_workflow(runner.id)
    with pytest.raises(ConcurrentModificationError, match="being advanced by runner"):
        await other.enable_saga_mode()
    after = await store.load_workflow(runner.id)
    assert (after.version, after.lease_owner, after.saga_mode) == (
        before.version,
        runner.runner_id,
        False,
    )

    opened.set()
    await running  # the runner's next commit still goes through
    assert runner.status is S.COMPLETED


async def test_a_plain_workflow_created_then_abandoned__is_not_recovered_without_its_saga_mode(
    store: PersistenceProvider,
) -> None:
    steps = (st("A"), st("B"), st("C", fn="engine_steps.step"))
    creator = builder(*steps, persistence_provider=store, lease_seconds=0.05)
    data = {"fail_at": ["C"]}
    dead = await creator.create_workflow("T", data, idempotency_key="order-1")
    # the creator dies here, before enable_saga_mode() reached the store
    await asyncio.sleep(0.1)
    assert await builder(*steps, persistence_provider=store).recover() == []
    assert (await store.load_workflow(dead.id)).version == 0

    # the program is respawned: same key, same settings; it starts the workflow as a saga
    respawned = builder(*steps, persistence_provider=store)
    wf = await respawned.create_workflow("T", data, idempotency_key="order-1")
    assert wf.id == dead.id
    wf.enable_saga_mode()  # the tutorial's plain call
    assert await wf.run() is S.FAILED_ROLLED_BACK
    assert wf.state.log == ["A", "B", "undo:B", "undo:A"]


async def test_a_crash_right_after_the_start__is_recovered_with_saga_mode(
    store: PersistenceProvider,
) -> None:
    steps = (st("A"), st("B"))
    creator = builder(*steps, persistence_provider=store, lease_seconds=0.05)
    wf = await creator.create_workflow("T", {"fail_at": ["B"]})
    wf.enable_saga_mode()
    await wf.acquire()  # as the first move does: the flag is committed with the start
    if wf.saga_flag_pending:
        await wf.commit(wf.status, reason="started")
    row = await store.load_workflow(wf.id)
    assert (row.version >= 1, row.saga_mode) == (True, True)
    await asyncio.sleep(0.1)  # the creator died before running A

    rescuer = builder(*steps, persistence_provider=store)
    assert await rescuer.recover() == [wf.id]
    done = await rescuer.load_workflow(wf.id)
    assert done.status is S.FAILED_ROLLED_BACK and done.state.log == ["A", "undo:A"]


async def test_every_commit_goes_through_the_lease(store: PersistenceProvider) -> None:
    """A stale holder whose lease was taken over can not write, even at the same version."""
    b = builder(st("A", automate_next=False), st("B"), persistence_provider=store)
    first = await b.create_workflow("T")
    await first.next_step()  # releases the lease (A is not automated)
    second = await b.load_workflow(first.id)
    await second.acquire()  # takes the lease
    row = await store.load_workflow(first.id)
    # a third object at the current version, without the lease, is refused
    third = await b.load_workflow(first.id)
    assert third.version == row.version
    with pytest.raises(ConcurrentModificationError, match="being advanced by runner"):
        await third.commit(third.status, reason="sneaky")
    assert (await store.load_workflow(first.id)).version == row.version
    assert time.time() < (row.lease_expires_at or 0)


async def test_recovery_claims_once_and_runs_on_that_claim(store: PersistenceProvider) -> None:
    steps = (st("A"), st("B"))
    dying = builder(*steps, persistence_provider=store, lease_seconds=0.05, saga=True)
    wf = await dying.create_workflow("T")
    await asyncio.sleep(0.1)
    rescuer = builder(*steps, persistence_provider=store, saga=True)
    assert await rescuer.recover(concurrency=2) == [wf.id]
    # the claim, then A and B: no second claim by the loaded object
    assert (await store.load_workflow(wf.id)).version == 3
    with pytest.raises(ValueError, match="concurrency"):
        await rescuer.recover(concurrency=0)


async def test_cancel_from_another_task_on_the_same_object__stops_before_the_next_step(
    store: PersistenceProvider,
) -> None:
    b = builder(st("A", fn="lease_steps.held"), st("B"), persistence_provider=store)
    wf = await b.create_workflow("T")
    opened, entered = lease_steps.gate(wf.id)
    running = asyncio.create_task(wf.run())
    await entered.wait()
    assert await wf.cancel("enough") is S.ACTIVE  # recorded: A is running
    opened.set()
    assert await running is S.CANCELLED
    assert engine_steps.ATTEMPTS[(wf.id, "B")] == 0
    assert (await store.load_workflow(wf.id)).status is S.CANCELLED


async def test_a_request_seen_by_a_commit_that_pauses__cancels_the_paused_workflow(
    store: PersistenceProvider,
) -> None:
    b = builder(
        st("A", fn="lease_steps.held"),
        st("B", fn="engine_steps.with_input", input_model="engine_steps.Approval"),
        persistence_provider=store,
    )
    wf = await b.create_workflow("T")
    opened, entered = lease_steps.gate(wf.id)
    running = asyncio.create_task(wf.next_step())
    await entered.wait()
    operator = await b.load_workflow(wf.id)
    assert await operator.cancel("no") is S.ACTIVE
    opened.set()
    await running  # A completes; the workflow would wait for B's input: cancelled instead
    assert (await store.load_workflow(wf.id)).status is S.CANCELLED
