"""A workflow's nested cursor (``frames``): committed with every transition, put back by rollback.

The in-memory store stands in for the database; a store that records the transitions it was
given shows what a commit sends.
"""

from __future__ import annotations

import time

import pytest

from engine_support import builder, st
from ruvon.errors import ConcurrentModificationError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import StepStatus, WorkflowStatus
from ruvon.providers.persistence import Transition
from ruvon.runtime.attempts import CallResult
from ruvon.workflow import Workflow

S = WorkflowStatus
ITER_1 = {"scope": "Items", "iteration": 1, "body": 0, "start_seq": 3}
ITER_2 = {"scope": "Items", "iteration": 2, "body": 0, "start_seq": 5}


class RecordingStore(InMemoryPersistenceProvider):
    def __init__(self) -> None:
        super().__init__()
        self.transitions: list[Transition] = []

    async def commit(self, transition: Transition) -> str | None:
        self.transitions.append(transition)
        return await super().commit(transition)


async def _workflow(store: InMemoryPersistenceProvider | None = None) -> Workflow:
    store = store or InMemoryPersistenceProvider()
    b = builder(st("A", automate_next=False), st("B"), persistence_provider=store)
    return await b.create_workflow("T")


async def test_a_new_workflow_has_no_frames() -> None:
    wf = await _workflow()
    assert wf.frames == []


async def test_commit_sends_a_copy_of_the_frames_with_the_state() -> None:
    store = RecordingStore()
    wf = await _workflow(store)
    wf.frames = [ITER_1]
    await wf.commit(S.ACTIVE)
    sent = store.transitions[-1]
    assert sent.frames == [ITER_1] and sent.frames is not wf.frames
    wf.frames.append(ITER_2)  # the workflow's list moves on; what was sent does not
    assert sent.frames == [ITER_1]

    wf.frames = []
    await wf.commit(S.ACTIVE)
    assert store.transitions[-1].frames == []


async def test_rollback_puts_back_the_frames_of_the_last_commit() -> None:
    wf = await _workflow()
    wf.frames = [ITER_1]
    await wf.commit(S.ACTIVE)

    wf.frames.append(ITER_2)  # changed in place, as an attempt in progress might
    wf.rollback()
    assert wf.frames == [ITER_1]

    wf.frames = [ITER_2]  # replaced
    wf.rollback()
    assert wf.frames == [ITER_1]
    wf.frames.append(ITER_2)
    wf.rollback()  # twice: the snapshot itself was not changed through the restored list
    assert wf.frames == [ITER_1]


async def test_rollback_before_any_commit_restores_the_created_frames() -> None:
    wf = await _workflow()
    wf.frames.append(ITER_1)
    wf.rollback()
    assert wf.frames == []


async def test_a_failed_commit_puts_back_the_frames_the_store_has() -> None:
    store = InMemoryPersistenceProvider()
    wf = await _workflow(store)
    wf.frames = [ITER_1]
    await wf.commit(S.ACTIVE)
    # another runner moved the row on (the version no longer matches ours)
    now = time.time()
    await store.claim(wf.id, wf.version, wf.runner_id, now + 60.0, now)

    wf.frames = [ITER_1, ITER_2]
    with pytest.raises(ConcurrentModificationError):
        await wf.commit(S.ACTIVE)
    assert wf.frames == [ITER_1]
    assert (await store.load_workflow(wf.id)).frames == [ITER_1]


async def test_record_attempt_keeps_the_item_and_the_commit_writes_it() -> None:
    store = InMemoryPersistenceProvider()
    wf = await _workflow(store)
    now = time.time()
    record = wf.record_attempt(
        wf.definition.steps[0],
        CallResult(attempt=1, started_at=now, ended_at=now + 0.1),
        StepStatus.COMPLETED,
        item={"sku": "A-1"},
    )
    plain = wf.record_attempt(
        wf.definition.steps[0],
        CallResult(attempt=2, started_at=now, ended_at=now + 0.1),
        StepStatus.COMPLETED,
    )
    assert (record.item, plain.item) == ({"sku": "A-1"}, None)
    await wf.commit(S.ACTIVE)
    assert [s.item for s in await store.step_history(wf.id)] == [{"sku": "A-1"}, None]


async def test_a_loaded_workflow_gets_the_frames_of_its_record() -> None:
    store = InMemoryPersistenceProvider()
    b = builder(st("A", automate_next=False), st("B"), persistence_provider=store)
    wf = await b.create_workflow("T")
    wf.frames = [ITER_2]
    await wf.commit(S.ACTIVE)
    loaded = await b.load_workflow(wf.id)
    assert loaded.frames == [ITER_2]
    loaded.frames.append(ITER_1)
    loaded.rollback()  # the loaded frames are its last commit
    assert loaded.frames == [ITER_2]
