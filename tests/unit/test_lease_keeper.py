"""The lease keeper: which leases it renews, for how long, and its thread.

The keeper is driven here with small stand-ins for a workflow and a store (it only reads a
workflow's lease fields and calls the store's ``renew_leases_blocking``), so the renewal rule can
be checked without a database and the thread with leases of about a second.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

import pytest

from ruvon.runtime.leases import LeaseKeeper

LEASE = 300.0  # long enough that the microseconds a test takes do not matter


class Store:
    """Renews every lease it is asked to, except those of the ids in ``lost`` (taken over by
    another runner); raises on the first ``fail_first`` calls."""

    def __init__(self, lost: frozenset[str] = frozenset(), fail_first: int = 0) -> None:
        self.lost = lost
        self.fail_first = fail_first
        self.calls: list[tuple[float, list[tuple[str, str, float]]]] = []

    def renew_leases_blocking(self, leases: list[tuple[str, str, float]]) -> set[str]:
        self.calls.append((time.time(), list(leases)))
        if len(self.calls) <= self.fail_first:
            raise ConnectionError("the database went away")
        return {workflow_id for workflow_id, _, _ in leases if workflow_id not in self.lost}


@dataclass(eq=False)
class Wf:
    """What the keeper reads of a workflow, and the renewals it records."""

    id: str
    persistence: Store
    lease_expires_at: float | None
    lease_seconds: float = LEASE
    runner_id: str = "host:1:1"
    extended: list[float] = field(default_factory=list)

    def extend_lease(self, expires_at: float) -> None:
        self.extended.append(expires_at)
        self.lease_expires_at = expires_at


def test_renews_the_leases_with_less_than_two_thirds_left__grouped_by_store() -> None:
    one, two = Store(lost=frozenset({"lost"})), Store()
    now = time.time()
    due = Wf("due", one, now + 0.6 * LEASE, runner_id="r1")
    lost = Wf("lost", one, now + 0.1 * LEASE, runner_id="r2")
    fresh = Wf("fresh", one, now + 0.9 * LEASE)
    other = Wf("other", two, now + 0.5 * LEASE, runner_id="r3")
    released = Wf("released", two, None)  # holds no lease: nothing to renew
    keeper = LeaseKeeper()
    keeper.held.update({due, lost, fresh, other, released})

    before = time.time()
    keeper._renew_due()
    after = time.time()

    asked = {
        store: sorted(leases) for store, (_, leases) in ((one, one.calls[0]), (two, two.calls[0]))
    }
    assert (len(one.calls), len(two.calls)) == (1, 1)
    assert [(i, r) for i, r, _ in asked[one]] == [("due", "r1"), ("lost", "r2")]
    assert [(i, r) for i, r, _ in asked[two]] == [("other", "r3")]
    for _, _, expires in asked[one] + asked[two]:
        assert before + LEASE <= expires <= after + LEASE  # a whole lease from now
    # the workflow whose lease the store did not renew is not told it was
    assert (due.extended, lost.extended, fresh.extended, other.extended) == (
        [asked[one][0][2]],
        [],
        [],
        [asked[two][0][2]],
    )
    assert released.extended == [] and released.lease_expires_at is None


def test_renews_nothing_when_every_lease_is_fresh() -> None:
    store = Store()
    keeper = LeaseKeeper()
    keeper.held.add(Wf("fresh", store, time.time() + 0.9 * LEASE))
    keeper._renew_due()
    assert store.calls == []


def _wait_for(condition: object, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return bool(condition())  # type: ignore[operator]


def _keeper_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "ruvon-lease-keeper"}


def test_one_daemon_thread_renews_short_leases_in_time_and_outlives_a_failed_renewal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="ruvon.leases")
    keeper = LeaseKeeper()
    threads = _keeper_threads()
    store = Store(fail_first=1)
    lease = 1.5  # the thread wakes every 0.5 s: the first renewal fails, the second is in time
    first = Wf("first", store, time.time() + lease, lease_seconds=lease)
    keeper.hold(first)
    [thread] = _keeper_threads() - threads
    assert thread.daemon  # it never keeps a finished program alive

    expires = first.lease_expires_at
    assert expires is not None
    assert _wait_for(lambda: first.extended, expires - time.time())  # before it ran out
    renewed_at, [(_, _, new_expiry)] = store.calls[1]
    assert new_expiry == pytest.approx(renewed_at + lease, abs=0.05)
    assert [r.getMessage() for r in caplog.records] == ["renewing leases failed"]

    keeper.drop(first)
    assert _wait_for(lambda: keeper._interval == 10.0, 2.0)  # idle: nothing held
    calls = len(store.calls)
    second = Wf("second", store, time.time() + lease, lease_seconds=lease)
    keeper.hold(second)  # a short lease wakes the idle thread
    try:
        assert _keeper_threads() - threads == {thread}  # and starts no other
        expires = second.lease_expires_at
        assert expires is not None
        assert _wait_for(lambda: second.extended, expires - time.time())
        assert all("first" not in str(leases) for _, leases in store.calls[calls:])
    finally:
        keeper.drop(second)  # the thread idles for the rest of the session


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_starts_its_own_thread_and_renews_there() -> None:
    """Only the forking thread survives a fork: the child must not think the parent's keeper
    thread runs for it (its leases would expire under a live runner)."""
    keeper = LeaseKeeper()
    keeper.hold(Wf("parent", Store(), None))  # the parent's thread is running
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether a renewal happened within 5 s, then leave
        try:
            store = Store()
            wf = Wf("child", store, time.time() + 0.3, lease_seconds=0.9)
            keeper.hold(wf)
            deadline = time.time() + 5
            while not wf.extended and time.time() < deadline:
                time.sleep(0.02)
            names = {t.name for t in threading.enumerate()}
            os.write(write, f"{len(wf.extended)} {'ruvon-lease-keeper' in names}".encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    renewals, thread = os.read(read, 100).decode().split()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert thread == "True" and int(renewals) >= 1
