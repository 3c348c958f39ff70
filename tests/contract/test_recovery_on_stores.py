"""Recovery on every store: one bad row never stops a pass, finished work is never claimed,
many workflows are recovered at once, and live leases are reported (issue 8, items 3, 12, 13).

Workflows are real rows: run by a builder until its runner "dies" inside a step
(``recovery_steps.Killed``), leaving the lease to expire, or written with ``create_workflow`` as
an older deployment (another state model, a function since removed, a cursor past the steps)
would have left them.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

import recovery_steps
from engine_support import builder, st
from recovery_steps import KILL, Killed
from ruvon.errors import PersistenceError
from ruvon.providers.persistence import RECOVERY_FAILED, PersistenceProvider, WorkflowRecord
from ruvon.recovery import recover, recover_pass, recover_waiting
from ruvon.runtime.status import WorkflowStatus as S

STEP = "recovery_steps.step"
STEPS = (st("A", STEP), st("B", STEP))


@pytest.fixture(autouse=True)
def _no_kill() -> Iterator[None]:
    KILL["in"] = None
    yield
    KILL["in"] = None


async def _killed_in(wf: Any, step: str) -> None:
    """Run ``wf`` until its runner dies in ``step`` (after committing the steps before it)."""
    KILL["in"] = step
    with pytest.raises(Killed):
        await wf.next_step()
    KILL["in"] = None


async def _abandoned(
    store: PersistenceProvider,
    n: int,
    *steps: dict[str, Any],
    lease: float = 0.05,
    expired: bool = True,
) -> list[Any]:
    """``n`` workflows whose runner died in step ``B`` (``A`` committed), their ``lease``
    expired when this returns (or, with ``expired=False``, still running)."""
    dying = builder(*(steps or STEPS), persistence_provider=store, lease_seconds=lease)
    workflows = []
    for _ in range(n):
        wf = await dying.create_workflow("T")
        await _killed_in(wf, "B")
        workflows.append(wf)
    if expired:
        await asyncio.sleep(lease + 0.05)
    return workflows


async def _abandoned_ids(store: PersistenceProvider, n: int, *steps: dict[str, Any]) -> list[str]:
    return [wf.id for wf in await _abandoned(store, n, *steps)]


async def _old_row(
    store: PersistenceProvider,
    *,
    state: dict[str, Any] | None = None,
    function: str = STEP,
    current_step: int = 0,
    expired_since: float = 1.0,
) -> str:
    """A running row left by an older deployment, its runner dead ``expired_since`` s ago."""
    snapshot = copy.deepcopy(builder(*STEPS).get_definition("T").snapshot)
    snapshot["steps"][0]["function"] = function
    wid = f"old-{time.monotonic_ns()}"
    # a definition of its own: compiled definitions are cached by content for the process
    snapshot["description"] = f"the definition {wid} started with"
    now = time.time()
    rec = WorkflowRecord(
        id=wid,
        workflow_type="T",
        workflow_version="1",
        status=S.ACTIVE,
        state=orjson.dumps(state if state is not None else {"log": [], "n": 0}),
        current_step=current_step,
        saga_mode=False,
        definition=snapshot,
        created_at=now,
        updated_at=now,
        version=5,  # it ran before
        lease_owner="dead-host:1:1",
        lease_expires_at=now - expired_since,
    )
    await store.create_workflow(rec)
    return rec.id


async def _failure_logged(store: PersistenceProvider, workflow_id: str) -> str:
    lines = [e["message"] for e in await store.execution_logs(workflow_id)]
    assert len(lines) == 1 and lines[0].startswith("recovery failed: "), lines
    return str(lines[0])


# --- item 12: claim only what is still abandoned, atomically ----------------------------------


async def test_claim_for_recovery__takes_only_running_workflows_whose_lease_expired(
    store: PersistenceProvider,
) -> None:
    now = time.time()
    past, future = now - 5.0, now + 60.0

    async def row(status: S, owner: str | None, expires: float | None) -> str:
        rec = WorkflowRecord(
            id=f"w-{time.monotonic_ns()}",
            workflow_type="T",
            workflow_version="1",
            status=status,
            state=b"{}",
            current_step=0,
            saga_mode=False,
            definition={"workflow_type": "T"},
            created_at=now,
            updated_at=now,
            version=3,
            lease_owner=owner,
            lease_expires_at=expires,
        )
        await store.create_workflow(rec)
        return rec.id

    takeable = [await row(S.ACTIVE, "dead", past), await row(S.COMPENSATING, "dead", past)]
    untouchable = [
        await row(S.COMPLETED, "dead", past),  # finished (a lease left on it must not matter)
        await row(S.FAILED_ROLLED_BACK, "dead", past),
        await row(S.PAUSED, "dead", past),
        await row(S.ACTIVE, "alive", future),
        await row(S.ACTIVE, None, None),  # between two next_step() calls of the application
        await row(S.ACTIVE, RECOVERY_FAILED, None),
    ]
    for wid in takeable:
        assert await store.claim_for_recovery(wid, "me", now + 30.0, now)
        r = await store.load_workflow(wid)
        assert (r.lease_owner, r.lease_expires_at, r.version) == ("me", now + 30.0, 4)
        assert not await store.claim_for_recovery(wid, "other", now + 30.0, now)  # ours now
    for wid in untouchable:
        before = await store.load_workflow(wid)
        assert not await store.claim_for_recovery(wid, "me", now + 30.0, now)
        after = await store.load_workflow(wid)
        assert (after.lease_owner, after.version) == (before.lease_owner, before.version)

    marked = untouchable[-1]
    assert await store.find_recovery_failed() == [marked]
    assert await store.claim_for_recovery(marked, "me", now + 30.0, now, failed=True)
    assert not await store.claim_for_recovery(takeable[0], "x", now + 60, now + 90, failed=True)


async def test_mark_recovery_failed__replaces_only_our_own_lease(
    store: PersistenceProvider,
) -> None:
    now = time.time()
    (wid,) = await _abandoned_ids(store, 1)
    version = (await store.load_workflow(wid)).version
    assert await store.claim_for_recovery(wid, "me", now + 30.0, time.time())
    assert not await store.mark_recovery_failed(wid, "someone-else")
    assert await store.mark_recovery_failed(wid, "me")
    row = await store.load_workflow(wid)
    assert (row.lease_owner, row.lease_expires_at) == (RECOVERY_FAILED, None)
    assert row.version == version + 2
    assert await store.find_recoverable(now + 3600.0) == []  # a lease that never expires
    assert await store.find_recovery_failed() == [wid]


async def test_recover__leaves_alone_a_workflow_its_runner_finished_after_the_search(
    store: PersistenceProvider,
) -> None:
    """The slow runner wakes up between recovery's search and its claim and finishes the
    workflow: recovery must not claim it, report it, or leave a lease on the finished row."""
    (wf,) = await _abandoned(store, 1)  # stuck in step B past its lease: it looks abandoned

    class FinishesAfterSearch:
        """The real store; the slow runner finishes right after recovery's search."""

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        async def find_recoverable(self, now: float, limit: int = 100) -> list[str]:
            found = await store.find_recoverable(now, limit)
            assert await wf.run() is S.COMPLETED
            return found

    rescuer = builder(*STEPS, persistence_provider=store)
    assert await rescuer.recover(FinishesAfterSearch()) == []  # type: ignore[arg-type]

    row = await store.load_workflow(wf.id)
    assert (row.status, row.lease_owner, row.lease_expires_at) == (S.COMPLETED, None, None)
    assert wf.state.log == ["A", "B"]  # each step ran (to completion) once


# --- item 3: one bad row is reported and marked; the pass goes on ------------------------------


async def test_recover__marks_unloadable_workflows_and_continues_the_others(
    store: PersistenceProvider,
) -> None:
    good = await _abandoned_ids(store, 2)
    misfit = await _old_row(store, state={"log": [], "n": "not a number"})
    gone = await _old_row(store, function="engine_steps.removed_in_the_last_release")

    rescuer = builder(*STEPS, persistence_provider=store)
    report = await recover_pass(rescuer, store)

    assert sorted(report.continued) == sorted(good)
    for wid in good:
        assert (await store.load_workflow(wid)).status is S.COMPLETED
    assert set(report.failed) == {misfit, gone}
    assert "can not be loaded" in report.failed[misfit]
    assert "stored state does not fit S" in report.failed[misfit]
    assert "removed_in_the_last_release" in report.failed[gone]
    for wid in (misfit, gone):
        row = await store.load_workflow(wid)
        assert (row.status, row.lease_owner, row.lease_expires_at) == (
            S.ACTIVE,
            RECOVERY_FAILED,
            None,
        )
        assert report.failed[wid] in await _failure_logged(store, wid)
    assert sorted(await store.find_recovery_failed()) == sorted([misfit, gone])

    # marked: later passes no longer pick them up
    assert await store.find_recoverable(time.time() + 3600.0) == []
    assert await rescuer.recover() == []


async def test_recover__marks_a_workflow_the_engine_fails_on_while_running(
    store: PersistenceProvider,
) -> None:
    good = await _abandoned_ids(store, 1)
    beyond = await _old_row(store, current_step=7)  # a cursor past the last step

    report = await recover_pass(builder(*STEPS, persistence_provider=store), store)

    assert report.continued == good
    assert list(report.failed) == [beyond]
    assert report.failed[beyond].startswith("failed while running: ")
    assert (await store.load_workflow(beyond)).lease_owner == RECOVERY_FAILED
    assert report.failed[beyond] in await _failure_logged(store, beyond)


async def test_recover__loads_again_instead_of_marking_when_the_store_failed_once(
    store: PersistenceProvider,
) -> None:
    (wid,) = await _abandoned_ids(store, 1)

    class DropsOneLoad:
        """The real store, whose connection drops during the first load of the workflow."""

        failed = False

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        async def load_workflow(self, workflow_id: str) -> WorkflowRecord:
            if not self.failed:
                self.failed = True
                raise PersistenceError("connection lost while reading")
            return await store.load_workflow(workflow_id)

    flaky = DropsOneLoad()
    report = await recover_pass(builder(*STEPS, persistence_provider=store), flaky)  # type: ignore[arg-type]

    assert flaky.failed and report.continued == [wid] and report.failed == {}
    assert (await store.load_workflow(wid)).status is S.COMPLETED


async def test_recover__bad_rows_first_in_line_do_not_starve_the_good_ones(
    store: PersistenceProvider,
) -> None:
    bad = [await _old_row(store, state={"n": "x"}, expired_since=100.0) for _ in range(3)]
    good = await _abandoned_ids(store, 2)
    assert (await store.find_recoverable(time.time(), 3)) == bad  # the bad ones come first

    rescuer = builder(*STEPS, persistence_provider=store)
    assert await rescuer.recover(limit=3) == []
    assert sorted(await rescuer.recover(limit=3)) == sorted(good)
    assert sorted(await store.find_recovery_failed()) == sorted(bad)


async def test_recover__include_failed_retries_a_marked_workflow_once_it_is_fixed(
    store: PersistenceProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    wid = await _old_row(store, function="recovery_steps.shipped_in_the_next_release")
    rescuer = builder(*STEPS, persistence_provider=store)
    assert await recover(rescuer, store) == []
    assert await recover(rescuer, store, include_failed=True) == []  # still broken: marked again
    assert (await store.load_workflow(wid)).lease_owner == RECOVERY_FAILED

    # the operator deploys the missing function, then retries
    monkeypatch.setattr(
        recovery_steps, "shipped_in_the_next_release", recovery_steps.step, raising=False
    )
    assert await recover(rescuer, store) == []  # not automatic
    assert await recover(rescuer, store, include_failed=True) == [wid]
    done = await store.load_workflow(wid)
    assert (done.status, done.lease_owner, orjson.loads(done.state)["log"]) == (
        S.COMPLETED,
        None,
        ["A", "B"],
    )
    assert await store.find_recovery_failed() == []


# --- item 13: many at once, bounded; live leases reported or waited for ------------------------


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_recover__runs_up_to_concurrency_workflows_at_once(
    store: PersistenceProvider, concurrency: int
) -> None:
    steps = (st("A", STEP), st("B", STEP), st("C", "recovery_steps.overlapping"))
    ids = await _abandoned_ids(store, 6, *steps)
    recovery_steps.IN_FLIGHT.update(now=0, peak=0)
    rescuer = builder(*steps, persistence_provider=store)

    done = await recover(rescuer, store, concurrency=concurrency)

    assert sorted(done) == sorted(ids)
    assert recovery_steps.IN_FLIGHT["peak"] == concurrency
    for wid in ids:
        assert (await store.load_workflow(wid)).status is S.COMPLETED


async def test_recover_waiting__reports_live_leases_and_waits_for_them_when_asked(
    store: PersistenceProvider,
) -> None:
    # its runner died; the lease lives on
    (held,) = await _abandoned(store, 1, lease=0.6, expired=False)
    rescuer = builder(*STEPS, persistence_provider=store)

    now = time.time()
    report = await recover_waiting(rescuer, store)
    assert report.continued == [] and report.waited == 0.0
    assert [(h.workflow_id, h.owner) for h in report.skipped] == [(held.id, held.runner_id)]
    assert report.skipped[0].expires_at > now

    report = await recover_waiting(rescuer, store, wait=True)
    assert report.continued == [held.id] and report.skipped == []
    assert 0.0 < report.waited <= 0.7
    assert (await store.load_workflow(held.id)).status is S.COMPLETED
