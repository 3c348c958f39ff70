"""The nested cursor (``frames``) and a step attempt's ``item``, on every store.

``frames`` belongs to the workflow row: every commit writes it with the state, in the same write,
and every read of the row gives it back. ``item`` is written with the step attempt. Both are JSON
the store keeps as it is, and neither may be changed through an object a caller passed in or got
back.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from contract_backends import Backend
from contract_helpers import record, state_of, transition

from engine_support import builder, st
from ruvon.errors import ConcurrentModificationError, PersistenceError
from ruvon.models import StepRecord, StepStatus
from ruvon.providers.persistence import PersistenceProvider, WorkflowRecord
from ruvon.runtime.attempts import CallResult
from ruvon.runtime.status import WorkflowStatus

S = WorkflowStatus

LOOP = {"scope": "Items", "iteration": 2, "body": 1, "start_seq": 7}
# a frame of each JSON shape a step type might keep: nested objects, lists, unicode, a big int
DEEP = {
    "scope": "Fan/task:inventory",
    "done": ["a", "b"],
    "pending": {"c": None, "d": [1, 2.5, True]},
    "note": "Zürich ✓",
    "big": 2**70,
}
ITEMS: list[Any] = [
    {"sku": "A-1", "qty": 2, "tags": ["x"]},
    "plain text ✓",
    42,
    2.5,
    [1, {"k": None}],
    True,
    None,
]


def _step(seq: int, item: Any = None, **kw: Any) -> StepRecord:
    return StepRecord(
        seq=seq,
        step_name=kw.pop("step_name", "Items"),
        step_index=kw.pop("step_index", 0),
        attempt=1,
        status=kw.pop("status", StepStatus.COMPLETED),
        started_at=1_700_000_000.25 + seq,
        ended_at=1_700_000_001.5 + seq,
        scope=f"Items/iter:{seq}/Reserve",
        item=item,
        **kw,
    )


async def _everywhere(
    store: PersistenceProvider, backend: Backend, wid: str
) -> list[WorkflowRecord]:
    """The row as each read path gives it: load and list, on this store and on a second one
    over the same database."""
    found = []
    for reader in (store, backend.new_store()):
        found.append(await reader.load_workflow(wid))
        found.extend(r for r in await reader.list_workflows() if r.id == wid)
    return found


async def test_frames_written_at_create_are_read_back_by_load_and_list(
    store: PersistenceProvider, backend: Backend
) -> None:
    original = record(frames=[LOOP, DEEP])
    await store.create_workflow(original)
    rows = await _everywhere(store, backend, original.id)
    assert len(rows) == 4
    for row in rows:
        assert row.frames == [LOOP, DEEP]
        assert row.frames[1]["big"] == 2**70 and isinstance(row.frames[1]["big"], int)


async def test_a_new_workflow_without_frames_reads_an_empty_list(
    store: PersistenceProvider, backend: Backend
) -> None:
    original = record()
    await store.create_workflow(original)
    for row in await _everywhere(store, backend, original.id):
        assert row.frames == [] and isinstance(row.frames, list)


async def test_an_idempotent_create_returns_the_stored_frames(store: PersistenceProvider) -> None:
    first = record(idempotency_key="order-7", frames=[LOOP])
    await store.create_workflow(first)
    row = await store.load_workflow(first.id)
    await store.commit(transition(row, frames=[DEEP]))
    got = await store.create_workflow(record(idempotency_key="order-7", frames=[{"other": 1}]))
    assert (got.id, got.frames) == (first.id, [DEEP])


@pytest.mark.parametrize(
    ("status", "cancel"),
    [(S.ACTIVE, False), (S.PAUSED, False), (S.ACTIVE, True)],
    ids=["same-status", "status-change", "cancel-requested"],
)
async def test_every_commit_replaces_the_frames_with_the_state(
    store: PersistenceProvider, backend: Backend, status: WorkflowStatus, cancel: bool
) -> None:
    """Each way a commit writes the row (SQLite has one UPDATE per case) writes the frames."""
    wf = record(frames=[LOOP])
    await store.create_workflow(wf)
    if cancel:
        assert await store.request_cancel(wf.id, "stop")
    row = await store.load_workflow(wf.id)
    nested = [{**LOOP, "iteration": 3}, DEEP]
    await store.commit(transition(row, status=status, state={"n": 3}, frames=nested))
    for loaded in await _everywhere(store, backend, wf.id):
        assert (loaded.version, loaded.status, state_of(loaded)) == (1, status, {"n": 3})
        assert loaded.frames == nested

    # leaving the nested step: the stack is empty again, also on the way back out
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, status=S.COMPLETED, lease_owner=None))
    for loaded in await _everywhere(store, backend, wf.id):
        assert (loaded.version, loaded.frames) == (2, [])


async def test_step_attempts_keep_their_item_of_any_json_shape(
    store: PersistenceProvider, backend: Backend
) -> None:
    wf = record()
    await store.create_workflow(wf)
    row = await store.load_workflow(wf.id)
    steps = tuple(_step(seq, item) for seq, item in enumerate(ITEMS))
    await store.commit(transition(row, steps=steps, frames=[LOOP]))
    for reader in (store, backend.new_store()):
        history = await reader.step_history(wf.id)
        assert [s.item for s in history] == ITEMS
        assert history == list(steps)
    assert type(history[2].item) is int and type(history[3].item) is float
    assert history[5].item is True


async def test_a_rewritten_attempt_takes_the_item_of_its_last_write(
    store: PersistenceProvider,
) -> None:
    """An attempt is upserted by ``seq``: the item follows its latest write, as the rest does."""
    wf = record()
    await store.create_workflow(wf)
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, steps=(_step(0, None, status=StepStatus.RUNNING),)))
    assert [s.item for s in await store.step_history(wf.id)] == [None]
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, steps=(_step(0, {"sku": "B"}, result={"ok": True}),)))
    assert [(s.item, s.result) for s in await store.step_history(wf.id)] == [
        ({"sku": "B"}, {"ok": True})
    ]


@pytest.mark.parametrize("cancel", [False, True], ids=["", "cancel-requested"])
async def test_a_stale_commit_writes_neither_frames_nor_items(
    store: PersistenceProvider, cancel: bool
) -> None:
    wf = record(frames=[LOOP])
    await store.create_workflow(wf)
    row = await store.load_workflow(wf.id)
    await store.commit(transition(row, steps=(_step(0, "first"),)))  # now at version 1
    if cancel:
        assert await store.request_cancel(wf.id, "stop")
    before = await store.load_workflow(wf.id)
    assert before.frames == []

    stale = transition(row, frames=[DEEP], steps=(_step(0, "stale"), _step(1, {"stale": True})))
    with pytest.raises(ConcurrentModificationError):
        await store.commit(stale)

    after = await store.load_workflow(wf.id)
    assert (after.version, after.frames) == (1, [])
    assert [s.item for s in await store.step_history(wf.id)] == ["first"]


async def test_the_stores_copy_is_not_changed_through_what_a_caller_passed_or_got(
    store: PersistenceProvider,
) -> None:
    frame = {"scope": "Items", "iteration": 0, "seen": ["a"]}
    item = {"sku": "A-1", "tags": ["x"]}
    created = record(frames=[frame])
    await store.create_workflow(created)
    frame["seen"].append("changed after create")
    created.frames.append({"pushed": True})
    assert (await store.load_workflow(created.id)).frames == [
        {"scope": "Items", "iteration": 0, "seen": ["a"]}
    ]

    row = await store.load_workflow(created.id)
    committed = [{"scope": "Items", "iteration": 1, "seen": ["b"]}]
    t = transition(row, frames=committed, steps=(_step(0, item),))
    await store.commit(t)
    committed[0]["seen"].append("changed after commit")
    t.frames.append({"pushed": True})
    item["tags"].append("changed after commit")
    expected_frames = [{"scope": "Items", "iteration": 1, "seen": ["b"]}]
    expected_item = {"sku": "A-1", "tags": ["x"]}

    loaded = await store.load_workflow(created.id)
    listed = (await store.list_workflows())[0]
    history = await store.step_history(created.id)
    assert loaded.frames == listed.frames == expected_frames
    assert history[0].item == expected_item
    loaded.frames[0]["seen"].append("changed after load")
    loaded.frames.append({"pushed": True})
    listed.frames[0]["iteration"] = 99
    history[0].item["tags"].append("changed after step_history")

    assert (await store.load_workflow(created.id)).frames == expected_frames
    assert (await store.list_workflows())[0].frames == expected_frames
    assert (await store.step_history(created.id))[0].item == expected_item


@pytest.mark.parametrize(
    "stored",
    ['{"scope": "Items"}', "[1, 2]", '"frames"', "[{} , 3]"],
    ids=["object", "numbers", "string", "mixed"],
)
async def test_frames_that_are_not_a_list_of_objects_are_refused_naming_the_workflow(
    sql_store: PersistenceProvider, sql_backend: Backend, stored: str
) -> None:
    wf = record()
    await sql_store.create_workflow(wf)
    marker = "?" if sql_backend.name == "sqlite" else "$1::jsonb"
    await sql_backend.sql(f"UPDATE ruvon_workflows SET frames = {marker}", stored)
    with pytest.raises(PersistenceError, match=f"'{wf.id}'.*frames must be a list"):
        await sql_store.load_workflow(wf.id)


async def test_a_null_frames_column_reads_as_no_frames(
    sql_store: PersistenceProvider, sql_backend: Backend
) -> None:
    """A row written before the column existed: NULL, read as an empty stack."""
    wf = record(frames=[LOOP])
    await sql_store.create_workflow(wf)
    await sql_backend.sql("UPDATE ruvon_workflows SET frames = NULL")
    assert (await sql_store.load_workflow(wf.id)).frames == []


# --- through the engine -------------------------------------------------------------------------


async def test_a_loaded_workflow_resumes_with_the_committed_frames_and_items(
    store: PersistenceProvider, backend: Backend
) -> None:
    b = builder(st("A", automate_next=False), st("B"), persistence_provider=store)
    wf = await b.create_workflow("T")
    assert wf.frames == []
    step = wf.definition.steps[0]
    now = time.time()
    wf.frames = [LOOP]
    wf.record_attempt(
        step,
        CallResult(attempt=1, started_at=now, ended_at=now + 0.5),
        StepStatus.COMPLETED,
        result={"n": 1},
        item={"sku": "A-1"},
    )
    await wf.commit(S.ACTIVE)

    # a second process on the same database rehydrates it
    other = builder(st("A", automate_next=False), st("B"), persistence_provider=backend.new_store())
    loaded = await other.load_workflow(wf.id)
    assert loaded is not wf
    assert loaded.frames == [LOOP]
    assert [(h.item, h.result) for h in loaded.history] == [({"sku": "A-1"}, {"n": 1})]

    wf.frames = []
    await wf.commit(S.ACTIVE)
    assert (await other.load_workflow(wf.id)).frames == []
