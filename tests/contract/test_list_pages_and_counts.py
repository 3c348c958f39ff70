"""Pages of ``list_workflows`` and ``count_workflows`` (the dashboard's list), on every store.

The order is newest first with the id breaking ties, so consecutive pages neither repeat nor
skip a workflow even when many share one ``created_at``; counts are per status, filtered by
type, and leave out the statuses no workflow has.
"""

from __future__ import annotations

import pytest
from contract_helpers import record

from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime.status import WorkflowStatus

S = WorkflowStatus
T0 = 1_700_000_000.0


async def _seed(store: PersistenceProvider) -> list[str]:
    """Seven workflows; three share one created_at. Returns their ids, newest first."""
    rows = [
        record(f"wf-{i}", created_at=T0 + min(i, 4), status=status, workflow_type=kind)
        for i, (status, kind) in enumerate(
            [
                (S.COMPLETED, "A"),
                (S.FAILED_ROLLED_BACK, "A"),
                (S.COMPLETED, "B"),
                (S.WAITING_HUMAN, "A"),
                (S.COMPLETED, "A"),  # wf-4, wf-5 and wf-6 share T0 + 4
                (S.ACTIVE, "B"),
                (S.COMPLETED, "A"),
            ]
        )
    ]
    for r in rows:
        await store.create_workflow(r)
    return ["wf-6", "wf-5", "wf-4", "wf-3", "wf-2", "wf-1", "wf-0"]


async def test_list_pages__follow_each_other_without_repeat_or_gap(
    store: PersistenceProvider,
) -> None:
    newest_first = await _seed(store)
    pages = [
        [r.id for r in await store.list_workflows(limit=3, offset=offset)]
        for offset in (0, 3, 6, 9)
    ]
    assert pages == [newest_first[:3], newest_first[3:6], newest_first[6:], []]
    assert [r.id for r in await store.list_workflows()] == newest_first


async def test_list_pages__with_filters_page_the_filtered_rows(
    store: PersistenceProvider,
) -> None:
    await _seed(store)
    completed = await store.list_workflows(status=S.COMPLETED, limit=2, offset=1)
    assert [r.id for r in completed] == ["wf-4", "wf-2"]
    of_a = await store.list_workflows(workflow_type="A", status=S.COMPLETED, offset=1)
    assert [r.id for r in of_a] == ["wf-4", "wf-0"]
    # a page returns whole records, as without offset
    assert all(r.definition and r.state for r in completed)


async def test_count_workflows__per_status_and_per_type(store: PersistenceProvider) -> None:
    assert await store.count_workflows() == {}
    await _seed(store)
    assert await store.count_workflows() == {
        S.COMPLETED: 4,
        S.FAILED_ROLLED_BACK: 1,
        S.WAITING_HUMAN: 1,
        S.ACTIVE: 1,
    }
    counts = await store.count_workflows(workflow_type="B")
    assert counts == {S.COMPLETED: 1, S.ACTIVE: 1}
    assert all(isinstance(k, WorkflowStatus) and type(v) is int for k, v in counts.items())
    assert await store.count_workflows(workflow_type="none such") == {}


@pytest.mark.parametrize("offset", [0, 2])
async def test_list_pages__a_page_is_a_copy(store: PersistenceProvider, offset: int) -> None:
    await _seed(store)
    [first] = await store.list_workflows(limit=1, offset=offset)
    first.metadata["changed"] = True
    [again] = await store.list_workflows(limit=1, offset=offset)
    assert again.id == first.id and "changed" not in again.metadata
