"""Schedules on every store: the upsert by name, the listing, and the compare-and-set of a
tick, raced by separate store objects (separate connections for SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from contract_backends import Backend

from ruvon.builder import WorkflowBuilder
from ruvon.providers.persistence import PersistenceProvider, ScheduleRecord
from ruvon.scheduler import Scheduler
from ruvon.status import WorkflowStatus

T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z


def schedule(**keys: object) -> ScheduleRecord:
    values: dict[str, object] = {
        "name": "nightly",
        "workflow_type": "Report",
        "cron_expression": "0 2 * * *",
        "next_due_at": T0,
        "initial_data": {"region": "eu", "ids": [1, 2**70], "nested": {"ok": True}},
    }
    values.update(keys)
    return ScheduleRecord(**values)  # type: ignore[arg-type]


async def test_a_schedule_round_trips(store: PersistenceProvider) -> None:
    before = time.time()
    await store.upsert_schedule(schedule(workflow_version="2"))
    await store.upsert_schedule(schedule(name="adhoc", enabled=False))
    first, second = await store.list_schedules()  # by name
    assert (first.name, first.enabled) == ("adhoc", False)
    assert second.name == "nightly" and second.workflow_type == "Report"
    assert second.workflow_version == "2" and second.cron_expression == "0 2 * * *"
    assert second.initial_data == {"region": "eu", "ids": [1, 2**70], "nested": {"ok": True}}
    assert second.enabled and second.next_due_at == T0 and second.last_tick_at is None
    assert before <= second.created_at == second.updated_at <= time.time()


async def test_upsert_keeps_the_next_tick_unless_the_cron_changed_or_it_was_disabled(
    store: PersistenceProvider,
) -> None:
    await store.upsert_schedule(schedule())
    await store.upsert_schedule(schedule(next_due_at=T0 + 99, initial_data={"region": "us"}))
    [row] = await store.list_schedules()
    assert (row.next_due_at, row.initial_data) == (T0, {"region": "us"})
    await store.upsert_schedule(schedule(cron_expression="0 3 * * *", next_due_at=T0 + 3600))
    [row] = await store.list_schedules()
    assert (row.cron_expression, row.next_due_at) == ("0 3 * * *", T0 + 3600)
    await store.upsert_schedule(replace(row, enabled=False))
    await store.upsert_schedule(replace(row, enabled=True, next_due_at=T0 + 7200))
    [row] = await store.list_schedules()
    assert row.enabled and row.next_due_at == T0 + 7200  # re-enabled: from now, not from before


async def test_a_tick_is_taken_once(store: PersistenceProvider) -> None:
    await store.upsert_schedule(schedule())

    async def take(expected: float) -> bool:
        return await store.claim_schedule_tick(
            "nightly", expected_due_at=expected, tick_at=expected, next_due_at=T0 + 86400, now=T0
        )

    assert await take(T0)
    assert not await take(T0)  # the same tick again
    [row] = await store.list_schedules()
    assert (row.last_tick_at, row.next_due_at) == (T0, T0 + 86400)
    assert not await store.claim_schedule_tick(
        "missing", expected_due_at=T0, tick_at=T0, next_due_at=T0 + 1, now=T0
    )
    await store.upsert_schedule(replace(row, enabled=False))
    assert not await take(T0 + 86400)  # disabled: no tick
    [row] = await store.list_schedules()
    assert row.last_tick_at == T0  # kept by the upsert


async def test_concurrent_claims_of_one_tick__exactly_one_wins(backend: Backend) -> None:
    stores = [backend.new_store() for _ in range(4)]
    for s in stores:
        await s.initialize()
    await stores[0].upsert_schedule(schedule())
    for round_ in range(5):
        due = T0 + 86400 * round_
        wins = await asyncio.gather(
            *(
                s.claim_schedule_tick(
                    "nightly",
                    expected_due_at=due,
                    tick_at=due,
                    next_due_at=due + 86400,
                    now=due,
                )
                for s in stores
                for _ in range(3)
            )
        )
        assert wins.count(True) == 1, wins
    [row] = await stores[-1].list_schedules()
    assert row.last_tick_at == T0 + 86400 * 4


async def test_concurrent_claims_from_threads__exactly_one_wins(sql_backend: Backend) -> None:
    """Each claimer on its own thread and event loop, as separate processes would be."""

    def claim() -> bool:
        async def once() -> bool:
            store = sql_backend.new_store()
            try:
                return bool(
                    await store.claim_schedule_tick(
                        "nightly", expected_due_at=T0, tick_at=T0, next_due_at=T0 + 1, now=T0
                    )
                )
            finally:
                await store.close()

        return asyncio.run(once())

    first = sql_backend.new_store()
    await first.initialize()
    await first.upsert_schedule(schedule())
    wins = await asyncio.gather(*(asyncio.to_thread(claim) for _ in range(6)))
    assert wins.count(True) == 1, wins


# --- the step and the scheduler on each store ----------------------------------------------------

REGISTRY = {
    "Setup": {
        "workflow_type": "Setup",
        "initial_state_model": "cron_steps.Setup",
        "steps": [
            {
                "name": "Register",
                "type": "CRON_SCHEDULE",
                "target_workflow_type": "Report",
                "schedule": "* * * * * *",
                "schedule_name": "report_{{ state.region }}",
                "initial_data_template": {"region": "{{ state.region }}", "copies": 2},
            }
        ],
    },
    "Report": {
        "workflow_type": "Report",
        "initial_state_model": "cron_steps.Report",
        "steps": [{"name": "Write", "function": "cron_steps.report"}],
    },
}


async def test_a_registered_schedule_is_started_by_the_scheduler(
    store: PersistenceProvider,
) -> None:
    builder = WorkflowBuilder(workflow_registry=REGISTRY, persistence_provider=store)
    setup = await builder.create_workflow("Setup", {"region": "us"})
    assert await setup.run() is WorkflowStatus.COMPLETED
    [row] = await store.list_schedules()
    assert (row.name, row.initial_data) == ("report_us", {"region": "us", "copies": 2})
    later = row.next_due_at + 0.5
    scheduler = Scheduler(builder, store, clock=lambda: later)
    [wf] = await scheduler.poll()
    await scheduler.drain()
    loaded = await builder.load_workflow(wf.id)
    assert loaded.status is WorkflowStatus.COMPLETED and loaded.state.copies == 2
    assert loaded.idempotency_key == f"report_us:{wf.metadata['tick']}"
    assert await scheduler.poll() == []
    [row] = await store.list_schedules()
    assert row.last_tick_at == later - 0.5
