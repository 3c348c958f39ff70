"""The persistence contract: every test runs on the memory, SQLite and PostgreSQL stores.

The stores are driven directly through :class:`PersistenceProvider` with hand-made records and
transitions, so a difference between them shows up here and not deep inside an engine test.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import Any

import orjson
import pytest
from contract_helpers import SNAPSHOT, new_id, record, state_of, transition

from ruvon.errors import ConcurrentModificationError, PersistenceError, WorkflowNotFoundError
from ruvon.models import (
    CompensationRecord,
    CompensationStatus,
    StepRecord,
    StepStatus,
    WorkflowError,
)
from ruvon.providers.persistence import PersistenceProvider, WorkflowRecord
from ruvon.runtime.status import WorkflowStatus

S = WorkflowStatus
C = CompensationStatus
ERROR = WorkflowError("RuntimeError", "boom ✗ 'quoted'", "B", "Traceback (most recent call):\n")


def _same_row(a: WorkflowRecord, b: WorkflowRecord) -> None:
    """Every field equal; the state compared as JSON (JSONB normalizes whitespace and key order)."""
    for name in (f.name for f in fields(WorkflowRecord)):
        if name == "state":
            assert state_of(a) == state_of(b), name
        else:
            assert getattr(a, name) == getattr(b, name), name


# --- create / load ------------------------------------------------------------------------------


async def test_create_load_roundtrip_of_every_field(store: PersistenceProvider, backend) -> None:
    created = 1_700_000_000.123456
    original = record(
        status=S.PAUSED,
        state={"n": 7, "log": ["A", "B"], "note": "Zürich ✓", "nested": {"x": [1, 2.5, None]}},
        created_at=created,
        updated_at=created + 5.5,
        current_step=1,
        saga_mode=True,
        idempotency_key="order-42",
        parent_id="parent-1",
        owner_id="ann@example.com",
        metadata={"tenant": "acme", "tags": ["a", "b"], "n": 3, "deep": {"ok": True}},
        error=ERROR,
        lease_owner="host:1:7",
        lease_expires_at=created + 30.25,
    )
    returned = await store.create_workflow(original)
    _same_row(returned, original)

    for reader in (store, backend.new_store()):  # also through a second store on the database
        loaded = await reader.load_workflow(original.id)
        _same_row(loaded, original)
        assert loaded.status is S.PAUSED
        assert loaded.saga_mode is True
        assert loaded.definition == SNAPSHOT
        assert loaded.error == ERROR
        assert loaded.created_at == created and loaded.updated_at == created + 5.5
        assert loaded.version == 0


async def test_optional_fields_roundtrip_as_empty(store: PersistenceProvider) -> None:
    original = record(saga_mode=False)
    await store.create_workflow(original)
    loaded = await store.load_workflow(original.id)
    assert loaded.saga_mode is False
    assert (loaded.idempotency_key, loaded.parent_id, loaded.owner_id, loaded.error) == (
        None,
        None,
        None,
        None,
    )
    assert (loaded.lease_owner, loaded.lease_expires_at) == (None, None)
    assert loaded.metadata == {}


async def test_loaded_state_is_bytes_as_declared(store: PersistenceProvider) -> None:
    original = record()
    await store.create_workflow(original)
    assert isinstance((await store.load_workflow(original.id)).state, bytes)


async def test_loaded_records_do_not_alias_the_stored_row(store: PersistenceProvider) -> None:
    original = record(metadata={"tags": ["a"]})
    await store.create_workflow(original)
    loaded = await store.load_workflow(original.id)
    loaded.metadata["tags"].append("mutated")
    loaded.definition["steps"].append({"name": "mutated"})
    again = await store.load_workflow(original.id)
    assert again.metadata == {"tags": ["a"]}
    assert again.definition == SNAPSHOT


async def test_idempotency_key_returns_the_existing_workflow_and_never_overwrites(
    store: PersistenceProvider,
) -> None:
    first = record(idempotency_key="order-42", state={"n": 1}, metadata={"first": True})
    await store.create_workflow(first)
    row = await store.load_workflow(first.id)
    await store.commit(transition(row, status=S.PAUSED, state={"n": 5}, current_step=1))
    commits = store.commits  # type: ignore[attr-defined]

    duplicate = record(
        idempotency_key="order-42",
        status=S.COMPLETED,
        state={"n": 99},
        metadata={"second": True},
        definition={**SNAPSHOT, "other": 1},
    )
    got = await store.create_workflow(duplicate)

    assert got.id == first.id
    assert (got.status, state_of(got), got.current_step, got.version) == (S.PAUSED, {"n": 5}, 1, 1)
    assert got.metadata == {"first": True} and got.definition == SNAPSHOT
    stored = await store.load_workflow(first.id)
    assert (stored.status, state_of(stored), stored.version) == (S.PAUSED, {"n": 5}, 1)
    with pytest.raises(WorkflowNotFoundError):
        await store.load_workflow(duplicate.id)
    assert [r.id for r in await store.list_workflows()] == [first.id]
    assert [a["to_status"] for a in await store.audit_log(first.id)] == ["ACTIVE", "PAUSED"]
    assert store.commits == commits  # type: ignore[attr-defined]


async def test_creating_an_existing_id_is_refused_and_keeps_the_row(
    store: PersistenceProvider,
) -> None:
    first = record(state={"n": 1})
    await store.create_workflow(first)
    row = await store.load_workflow(first.id)
    await store.commit(transition(row, steps=(_step(0, step_name="A", step_index=0, result={}),)))
    with pytest.raises(PersistenceError):
        await store.create_workflow(record(first.id, status=S.COMPLETED, state={"n": 9}))
    stored = await store.load_workflow(first.id)
    assert (stored.status, stored.version) == (S.ACTIVE, 1)
    assert len(await store.step_history(first.id)) == 1


# --- commit -------------------------------------------------------------------------------------


def _step(seq: int, status: StepStatus = StepStatus.COMPLETED, **kw: Any) -> StepRecord:
    ended = None if status is StepStatus.RUNNING else 1_700_000_001.5 + seq
    return StepRecord(
        seq=seq,
        step_name=kw.pop("step_name", f"S{seq}"),
        step_index=kw.pop("step_index", seq),
        attempt=kw.pop("attempt", 1),
        status=status,
        started_at=1_700_000_000.25 + seq,
        ended_at=kw.pop("ended_at", ended),
        **kw,
    )


def _comp(sequence: int, status: CompensationStatus, **kw: Any) -> CompensationRecord:
    return CompensationRecord(
        sequence=sequence,
        forward_seq=kw.pop("forward_seq", 2 - sequence),
        step_name=kw.pop("step_name", f"S{2 - sequence}"),
        step_index=kw.pop("step_index", 2 - sequence),
        function=kw.pop("function", "steps.undo"),
        status=status,
        started_at=kw.pop("started_at", 1_700_000_010.0 + sequence),
        **kw,
    )


async def test_commit_applies_the_whole_transition_and_bumps_the_version(
    store: PersistenceProvider,
) -> None:
    wf = record(lease_owner="me", lease_expires_at=time.time() + 30)
    await store.create_workflow(wf)
    row = await store.load_workflow(wf.id)
    step = _step(0, result={"n": 2, "nested": {"x": [1]}})
    comp = _comp(0, C.COMPLETED, ended_at=1_700_000_011.0, attempts=2, result={"undone": True})
    t = transition(
        row,
        status=S.COMPENSATING,
        state={"n": 2, "log": ["A"]},
        current_step=1,
        saga_mode=True,
        error=ERROR,
        updated_at=1_700_000_100.5,
        steps=(step,),
        compensations=(comp,),
        reason="unwinding",
        lease_owner="me",
        lease_expires_at=1_700_000_130.5,
        metrics=(("workflow_duration_ms", 12.5),),
    )
    await store.commit(t)

    loaded = await store.load_workflow(wf.id)
    assert loaded.version == 1
    assert (loaded.status, state_of(loaded), loaded.current_step) == (
        S.COMPENSATING,
        {"n": 2, "log": ["A"]},
        1,
    )
    assert (loaded.saga_mode, loaded.error, loaded.updated_at) == (True, ERROR, 1_700_000_100.5)
    assert (loaded.lease_owner, loaded.lease_expires_at) == ("me", 1_700_000_130.5)
    assert loaded.created_at == wf.created_at and loaded.metadata == wf.metadata
    assert await store.step_history(wf.id) == [step]
    assert await store.compensation_journal(wf.id) == [comp]
    assert await store.metrics(wf.id) == [("workflow_duration_ms", 12.5)]
    audit = await store.audit_log(wf.id)
    assert audit[-1] == {
        "from_status": "ACTIVE",
        "to_status": "COMPENSATING",
        "at": 1_700_000_100.5,
        "reason": "unwinding",
    }

    # a second commit releases the lease and clears the error
    await store.commit(transition(loaded, status=S.FAILED_ROLLED_BACK, lease_owner=None))
    final = await store.load_workflow(wf.id)
    assert final.version == 2
    assert (final.lease_owner, final.lease_expires_at, final.error) == (None, None, None)


@pytest.mark.parametrize("cancel", [False, True], ids=["", "cancel-requested"])
@pytest.mark.parametrize("expected", [0, 5])
async def test_stale_expected_version_raises_and_writes_nothing(
    store: PersistenceProvider, expected: int, cancel: bool
) -> None:
    """Also with a cancellation requested, which sends SQLite's commit down its other path."""
    wf = record()
    await store.create_workflow(wf)
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, state={"n": 2}))  # now at version 1
    if cancel:
        assert await store.request_cancel(wf.id, "stop")
    before = await store.load_workflow(wf.id)
    audit_before = await store.audit_log(wf.id)
    commits = store.commits  # type: ignore[attr-defined]

    stale = transition(
        row,
        expected_version=expected,
        status=S.COMPLETED,
        state={"n": 666},
        steps=(_step(0),),
        compensations=(_comp(0, C.STARTED),),
        metrics=(("m", 1.0),),
        reason="should not be written",
    )
    with pytest.raises(ConcurrentModificationError) as info:
        await store.commit(stale)

    err = info.value
    assert (err.workflow_id, err.expected_version, err.actual_version) == (wf.id, expected, 1)
    assert "modified concurrently" in str(err)
    _same_row(await store.load_workflow(wf.id), before)
    assert await store.step_history(wf.id) == []
    assert await store.compensation_journal(wf.id) == []
    assert await store.metrics(wf.id) == []
    assert await store.audit_log(wf.id) == audit_before
    assert store.commits == commits  # type: ignore[attr-defined]


async def test_a_failing_write_inside_a_commit_rolls_the_whole_transition_back(
    sql_store: PersistenceProvider,
) -> None:
    """SQL stores only: one transaction per transition (a NOT NULL violation in a step row)."""
    wf = record()
    await sql_store.create_workflow(wf)
    row = await sql_store.load_workflow(wf.id)
    broken = _step(1, step_name=None)
    t = transition(row, status=S.PAUSED, steps=(_step(0), broken), metrics=(("m", 1.0),))
    with pytest.raises(PersistenceError):
        await sql_store.commit(t)
    _same_row(await sql_store.load_workflow(wf.id), row)
    assert await sql_store.step_history(wf.id) == []
    assert await sql_store.metrics(wf.id) == []
    assert len(await sql_store.audit_log(wf.id)) == 1
    # and the store is still usable afterwards
    await sql_store.commit(transition(row, steps=(_step(0),)))
    assert (await sql_store.load_workflow(wf.id)).version == 1


def _unknown_operations() -> dict[str, Callable[[PersistenceProvider, str], Awaitable[Any]]]:
    def commit(s: PersistenceProvider, wid: str) -> Awaitable[Any]:
        return s.commit(transition(record(wid), steps=(_step(0),)))

    return {
        "load_workflow": lambda s, wid: s.load_workflow(wid),
        "commit": commit,
        "claim": lambda s, wid: s.claim(wid, 0, "me", time.time() + 30, time.time()),
        "step_history": lambda s, wid: s.step_history(wid),
        "compensation_journal": lambda s, wid: s.compensation_journal(wid),
        "execution_logs": lambda s, wid: s.execution_logs(wid),
        "audit_log": lambda s, wid: s.audit_log(wid),
        "metrics": lambda s, wid: s.metrics(wid),
        "log_execution": lambda s, wid: s.log_execution(wid, "info", "hello", step_name="A"),
    }


@pytest.mark.parametrize("operation", list(_unknown_operations()))
async def test_unknown_workflow_id_raises_workflow_not_found(
    store: PersistenceProvider, operation: str
) -> None:
    # another workflow with history exists, so "no rows" is not mistaken for "no workflow"
    other = record()
    await store.create_workflow(other)
    row = await store.load_workflow(other.id)
    await store.commit(transition(row, steps=(_step(0),), metrics=(("m", 1.0),)))
    await store.log_execution(other.id, "info", "x")

    missing = new_id()
    with pytest.raises(WorkflowNotFoundError) as info:
        await _unknown_operations()[operation](store, missing)
    assert info.value.workflow_id == missing and missing in str(info.value)
    if operation == "log_execution":
        assert await store.execution_logs(other.id) != []


async def test_a_new_workflow_has_empty_histories(store: PersistenceProvider) -> None:
    wf = record()
    await store.create_workflow(wf)
    assert await store.step_history(wf.id) == []
    assert await store.compensation_journal(wf.id) == []
    assert await store.execution_logs(wf.id) == []
    assert await store.metrics(wf.id) == []
    assert await store.audit_log(wf.id) == [
        {"from_status": None, "to_status": "ACTIVE", "at": wf.created_at, "reason": "created"}
    ]


# --- step attempts, compensation journal, audit, metrics, logs -----------------------------------


async def test_step_attempts_are_upserted_by_seq(store: PersistenceProvider) -> None:
    wf = record()
    await store.create_workflow(wf)
    row = await store.load_workflow(wf.id)
    running = _step(0, StepStatus.RUNNING, step_name="A")
    await store.commit(transition(row, steps=(running,)))
    assert await store.step_history(wf.id) == [running]

    done = _step(0, StepStatus.COMPLETED, step_name="A", result={"n": 2})
    failed = _step(2, StepStatus.FAILED, step_name="C", error=ERROR)
    second = _step(1, StepStatus.COMPLETED, step_name="B", result={"ok": True}, attempt=3)
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, steps=(failed, done, second)))  # out of order on purpose

    history = await store.step_history(wf.id)
    assert [s.seq for s in history] == [0, 1, 2]  # one row per seq, oldest first
    assert history == [done, second, failed]
    assert history[0].duration_ms == pytest.approx(1250.0)
    assert history[2].error == ERROR and history[2].result is None


async def test_compensation_journal_is_upserted_by_sequence(store: PersistenceProvider) -> None:
    wf = record(status=S.COMPENSATING)
    await store.create_workflow(wf)
    row = await store.load_workflow(wf.id)
    started = _comp(0, C.STARTED)
    skipped = _comp(1, C.SKIPPED, function=None, detail="no compensate_function", ended_at=5.0)
    await store.commit(transition(row, compensations=(started, skipped)))
    assert await store.compensation_journal(wf.id) == [started, skipped]

    completed = _comp(
        0,
        C.COMPLETED,
        ended_at=1_700_000_012.5,
        attempts=2,
        result={"refund": "r-1"},
        decided_by="ops@example.com",
    )
    failed = _comp(2, C.FAILED, ended_at=1_700_000_020.0, attempts=3, error=ERROR)
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, compensations=(failed, completed)))

    journal = await store.compensation_journal(wf.id)
    assert [e.sequence for e in journal] == [0, 1, 2]
    assert journal == [completed, skipped, failed]
    assert journal[0].status is C.COMPLETED and journal[0].duration_ms == pytest.approx(2500.0)
    assert journal[2].error == ERROR


async def test_audit_row_only_when_the_status_changes(store: PersistenceProvider) -> None:
    wf = record()
    await store.create_workflow(wf)
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, reason="same status"))
    assert len(await store.audit_log(wf.id)) == 1

    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, status=S.PAUSED, updated_at=1000.5, reason="paused"))
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, status=S.ACTIVE, updated_at=1001.5))
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, updated_at=1002.5, reason="still active"))

    assert await store.audit_log(wf.id) == [
        {"from_status": None, "to_status": "ACTIVE", "at": wf.created_at, "reason": "created"},
        {"from_status": "ACTIVE", "to_status": "PAUSED", "at": 1000.5, "reason": "paused"},
        {"from_status": "PAUSED", "to_status": "ACTIVE", "at": 1001.5, "reason": None},
    ]


async def test_metrics_are_appended_in_order(store: PersistenceProvider) -> None:
    wf = record()
    await store.create_workflow(wf)
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, metrics=(("a", 1.0), ("b", 2.5))))
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row))  # no metrics: nothing added
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, metrics=(("a", 3.0),)))
    metrics = await store.metrics(wf.id)
    assert metrics == [("a", 1.0), ("b", 2.5), ("a", 3.0)]
    assert all(isinstance(v, float) for _, v in metrics)


async def test_execution_logs(store: PersistenceProvider) -> None:
    wf = record()
    await store.create_workflow(wf)
    before = time.time()
    await store.log_execution(
        wf.id, "warning", "hello ✓", step_name="A", attempt=2, detail={"k": [1, 2]}
    )
    await store.log_execution(wf.id, "Info", "second")
    after = time.time()
    logs = await store.execution_logs(wf.id)
    assert [{k: v for k, v in entry.items() if k != "at"} for entry in logs] == [
        {
            "log_level": "WARNING",
            "message": "hello ✓",
            "step_name": "A",
            "extra": {"attempt": 2, "detail": {"k": [1, 2]}},
        },
        {"log_level": "INFO", "message": "second", "step_name": None, "extra": {}},
    ]
    assert all(before - 1 <= entry["at"] <= after + 1 for entry in logs)


# --- list_workflows -----------------------------------------------------------------------------


async def test_list_workflows_filters_newest_first_and_limits(store: PersistenceProvider) -> None:
    t0 = 1_700_000_000.0
    rows = [
        record(created_at=t0 + 1, workflow_type="T", status=S.ACTIVE),
        record(created_at=t0 + 3, workflow_type="U", status=S.ACTIVE),
        record(created_at=t0 + 2, workflow_type="T", status=S.COMPLETED),
        record(created_at=t0 + 4, workflow_type="T", status=S.ACTIVE),
    ]
    for r in rows:
        await store.create_workflow(r)
    a, b, c, d = (r.id for r in rows)

    async def ids(**kw: Any) -> list[str]:
        return [r.id for r in await store.list_workflows(**kw)]

    assert await ids() == [d, b, c, a]
    assert await ids(status=S.ACTIVE) == [d, b, a]
    assert await ids(workflow_type="T") == [d, c, a]
    assert await ids(workflow_type="T", status=S.ACTIVE) == [d, a]
    assert await ids(status=S.COMPLETED) == [c]
    assert await ids(workflow_type="nope") == []
    assert await ids(limit=2) == [d, b]
    assert await ids(workflow_type="T", limit=1) == [d]
    listed = (await store.list_workflows(limit=1))[0]
    _same_row(listed, await store.load_workflow(d))


# --- leases -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("holder", "expires_in"),
    [(None, None), ("me", 60.0), ("other", -1.0)],
    ids=["free", "own", "expired"],
)
async def test_claim_succeeds_when_free_own_or_expired(
    store: PersistenceProvider, holder: str | None, expires_in: float | None
) -> None:
    now = time.time()
    wf = record(
        lease_owner=holder,
        lease_expires_at=None if expires_in is None else now + expires_in,
        state={"n": 3},
    )
    await store.create_workflow(wf)
    await store.claim(wf.id, 0, "me", now + 120.0, now)
    loaded = await store.load_workflow(wf.id)
    assert (loaded.lease_owner, loaded.lease_expires_at, loaded.version) == ("me", now + 120.0, 1)
    assert (loaded.status, state_of(loaded)) == (S.ACTIVE, {"n": 3})
    assert len(await store.audit_log(wf.id)) == 1  # a claim is not a status change


async def test_claim_fails_while_another_runner_holds_an_unexpired_lease(
    store: PersistenceProvider,
) -> None:
    now = time.time()
    started = record(lease_owner="other", lease_expires_at=now + 60.0, version=3)
    # created with saga mode, never started: its creator may be running the first step
    saga_unstarted = record(lease_owner="other", lease_expires_at=now + 60.0, saga_mode=True)
    for wf in (started, saga_unstarted):
        await store.create_workflow(wf)
        with pytest.raises(ConcurrentModificationError) as info:
            await store.claim(wf.id, wf.version, "me", now + 30.0, now)
        err = info.value
        assert (err.lease_owner, err.expected_version, err.actual_version) == (
            "other",
            wf.version,
            wf.version,
        )
        assert "being advanced by runner 'other'" in str(err)
        _same_row(await store.load_workflow(wf.id), wf)


async def test_claim_takes_a_workflow_created_without_saga_mode_and_never_started(
    store: PersistenceProvider,
) -> None:
    """No step runs before such a workflow's first commit: whoever starts it first takes it."""
    now = time.time()
    wf = record(lease_owner="creator", lease_expires_at=now + 60.0)
    await store.create_workflow(wf)
    await store.claim(wf.id, 0, "me", now + 30.0, now)
    row = await store.load_workflow(wf.id)
    assert (row.lease_owner, row.version) == ("me", 1)


async def test_claim_fails_on_a_wrong_version(store: PersistenceProvider) -> None:
    now = time.time()
    wf = record()
    await store.create_workflow(wf)
    with pytest.raises(ConcurrentModificationError) as info:
        await store.claim(wf.id, 3, "me", now + 30.0, now)
    assert (info.value.expected_version, info.value.actual_version) == (3, 0)
    _same_row(await store.load_workflow(wf.id), wf)


async def test_renew_lease_only_for_the_owner_and_without_a_version_bump(
    store: PersistenceProvider,
) -> None:
    now = time.time()
    held = record(lease_owner="me", lease_expires_at=now + 10.0)
    free = record()
    await store.create_workflow(held)
    await store.create_workflow(free)

    assert await store.renew_lease(held.id, "me", now + 100.0) is True
    loaded = await store.load_workflow(held.id)
    assert (loaded.lease_owner, loaded.lease_expires_at, loaded.version) == ("me", now + 100.0, 0)

    assert await store.renew_lease(held.id, "other", now + 500.0) is False
    assert (await store.load_workflow(held.id)).lease_expires_at == now + 100.0

    assert await store.renew_lease(free.id, "me", now + 500.0) is False
    loaded_free = await store.load_workflow(free.id)
    assert (loaded_free.lease_owner, loaded_free.lease_expires_at) == (None, None)


async def test_renew_leases_blocking_works_from_another_thread_while_the_loop_is_busy(
    store: PersistenceProvider,
) -> None:
    """The lease keeper's thread renews while a synchronous step blocks the event loop."""
    import threading

    now = time.time()
    held, other, free = (
        record(lease_owner="me", lease_expires_at=now + 10.0),
        record(lease_owner="someone", lease_expires_at=now + 10.0),
        record(),
    )
    for r in (held, other, free):
        await store.create_workflow(r)
    result: dict[str, set[str]] = {}
    leases = [(held.id, "me", now + 100.0), (other.id, "me", now + 100.0), (free.id, "me", 1.0)]
    thread = threading.Thread(
        target=lambda: result.setdefault("ids", store.renew_leases_blocking(leases))
    )
    thread.start()
    thread.join(30)  # the loop is blocked here, as during a synchronous step
    assert result["ids"] == {held.id}
    loaded = await store.load_workflow(held.id)
    assert (loaded.lease_expires_at, loaded.version) == (now + 100.0, 0)
    assert (await store.load_workflow(other.id)).lease_expires_at == now + 10.0


async def test_find_recoverable_returns_only_abandoned_running_workflows(
    store: PersistenceProvider,
) -> None:
    now = time.time()
    past, future = now - 5.0, now + 60.0
    started = {"version": 1}  # at version 0 a workflow was created but never started
    wanted = {
        "active_expired": record(
            status=S.ACTIVE, lease_owner="x", lease_expires_at=past, **started
        ),
        "compensating_expired": record(
            status=S.COMPENSATING, lease_owner="x", lease_expires_at=past - 1, **started
        ),
        # created with saga mode on: nothing its program could still change
        "saga_never_started_expired": record(
            status=S.ACTIVE, lease_owner="x", lease_expires_at=past - 2, saga_mode=True
        ),
    }
    ignored = {
        # created without saga mode and never started: its program may still turn it on
        "plain_never_started_expired": record(
            status=S.ACTIVE, lease_owner="x", lease_expires_at=past
        ),
        "active_unexpired": record(
            status=S.ACTIVE, lease_owner="x", lease_expires_at=future, **started
        ),
        "active_no_lease": record(status=S.ACTIVE),
        "paused_expired": record(status=S.PAUSED, lease_owner="x", lease_expires_at=past),
        "completed_expired": record(status=S.COMPLETED, lease_owner="x", lease_expires_at=past),
        "waiting_expired": record(
            status=S.WAITING_COMPENSATION_APPROVAL, lease_owner="x", lease_expires_at=past
        ),
        "compensation_failed_expired": record(
            status=S.COMPENSATION_FAILED, lease_owner="x", lease_expires_at=past
        ),
    }
    for r in [*wanted.values(), *ignored.values()]:
        await store.create_workflow(r)

    found = await store.find_recoverable(now)
    assert sorted(found) == sorted(r.id for r in wanted.values())
    limited = await store.find_recoverable(now, limit=1)
    assert len(limited) == 1 and limited[0] in found
    assert await store.find_recoverable(past - 10.0) == []


async def test_claim_then_commit_releases_and_find_recoverable_forgets(
    store: PersistenceProvider,
) -> None:
    now = time.time()
    wf = record(lease_owner="dead-runner", lease_expires_at=now - 1.0, version=1)
    await store.create_workflow(wf)
    assert await store.find_recoverable(now) == [wf.id]
    await store.claim(wf.id, 1, "me", now + 60.0, now)
    assert await store.find_recoverable(now) == []  # claimed: the new lease is not expired
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, status=S.COMPLETED, lease_owner=None))
    assert await store.find_recoverable(now + 3600.0) == []


async def test_stored_values_survive_orjson_roundtrip_types(store: PersistenceProvider) -> None:
    """Floats stay floats, ints stay ints and unicode survives, in state and results."""
    state = {"i": 1, "f": 1.0, "big": 2**53, "s": "ünïcødé \u2603", "b": False, "z": None}
    wf = record(state=state)
    await store.create_workflow(wf)
    loaded = await store.load_workflow(wf.id)
    parsed = orjson.loads(loaded.state)
    assert parsed == state
    assert isinstance(parsed["i"], int) and isinstance(parsed["f"], float)


async def test_step_attempts_and_journal_entries_keep_their_scope_path(
    store: PersistenceProvider,
) -> None:
    """Nested scopes (a parallel task, a loop iteration's step) are recorded on their own."""
    wf = record()
    await store.create_workflow(wf)
    row = await store.load_workflow(wf.id)
    steps = (
        _step(0, step_name="Fan", step_index=0),  # top level: the scope is the step's name
        _step(1, step_name="Fan", step_index=0, scope="Fan/task:inventory"),
        _step(2, step_name="Items", step_index=1, scope="Items/iter:3/Reserve%2FHold"),
    )
    journal = (_comp(0, CompensationStatus.COMPLETED, forward_seq=2, scope=steps[2].scope),)
    await store.commit(transition(row, steps=steps, compensations=journal))
    history = await store.step_history(wf.id)
    assert [s.scope for s in history] == [
        "Fan",
        "Fan/task:inventory",
        "Items/iter:3/Reserve%2FHold",
    ]
    assert [c.scope for c in await store.compensation_journal(wf.id)] == [steps[2].scope]
