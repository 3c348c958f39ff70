"""The scheduler on a fake clock: cron arithmetic, due ticks, the missed-tick policy, two
schedulers on one store, the definitions' own schedules, and finishing a dead scheduler's tick."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.definition.cron import check_cron, latest_tick, next_tick, tick_label
from ruvon.errors import DefinitionError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.providers.persistence import ScheduleRecord
from ruvon.scheduler import Scheduler, due_tick, tick_key
from ruvon.status import WorkflowStatus as S


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


NOON = at("2024-05-01T12:00:00")
MINUTE = "* * * * *"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- cron arithmetic -----------------------------------------------------------------------------


def test_check_cron_accepts_five_and_six_fields_and_macros() -> None:
    assert check_cron(" */5  * * * * ") == "*/5 * * * *"
    assert check_cron("* * * * * */2") == "* * * * * */2"  # the sixth field is seconds
    assert check_cron("@daily") == "@daily"


@pytest.mark.parametrize("bad", ["", "* * *", "61 * * * *", "*/0 * * * *", "0 0 30 2 *", "x"])
def test_check_cron_refuses_what_croniter_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match=r"cron expression|must not be empty"):
        check_cron(bad)


def test_ticks_are_utc_and_strict() -> None:
    assert next_tick(MINUTE, NOON) == NOON + 60  # strictly after
    assert next_tick(MINUTE, NOON + 0.5) == NOON + 60
    assert latest_tick(MINUTE, NOON) == NOON  # at or before
    assert latest_tick(MINUTE, NOON + 59.9) == NOON
    assert next_tick("0 9 * * *", NOON) == at("2024-05-02T09:00:00")
    assert next_tick("* * * * * */3", NOON + 1) == NOON + 3
    assert tick_label(NOON) == "2024-05-01T12:00:00+00:00"
    assert tick_key("s", NOON) == "s:2024-05-01T12:00:00+00:00"


def schedule(**keys: Any) -> ScheduleRecord:
    values: dict[str, Any] = {
        "name": "s",
        "workflow_type": "Report",
        "cron_expression": MINUTE,
        "next_due_at": NOON,
    }
    values.update(keys)
    return ScheduleRecord(**values)


def test_a_tick_is_due_from_its_time_on() -> None:
    assert due_tick(schedule(), NOON - 0.001) is None
    due = due_tick(schedule(), NOON)
    assert due is not None and (due.tick_at, due.next_due_at, due.skipped) == (
        NOON,
        NOON + 60,
        False,
    )
    assert due.idempotency_key == "s:2024-05-01T12:00:00+00:00"
    assert due_tick(schedule(enabled=False), NOON + 10) is None


def test_after_downtime_only_the_latest_missed_tick_is_due() -> None:
    due = due_tick(schedule(), NOON + 3 * 3600 + 30)  # three hours late
    assert due is not None and due.skipped
    assert due.tick_at == NOON + 3 * 3600
    assert due.next_due_at == NOON + 3 * 3600 + 60


# --- the scheduler -------------------------------------------------------------------------------

REPORT = {
    "workflow_type": "Report",
    "initial_state_model": "cron_steps.Report",
    "steps": [{"name": "Write", "function": "cron_steps.report"}],
}


def make(store: InMemoryPersistenceProvider, clock: Clock, **defs: Any) -> Scheduler:
    registry = {"Report": {**REPORT, **defs}}
    builder = WorkflowBuilder(workflow_registry=registry, persistence_provider=store)
    return Scheduler(builder, store, clock=clock, name="test")


async def started(store: InMemoryPersistenceProvider) -> list[tuple[str | None, S]]:
    rows = await store.list_workflows(workflow_type="Report")
    return sorted((r.idempotency_key, r.status) for r in rows)


async def test_poll_starts_a_due_tick_once_and_moves_the_schedule_on() -> None:
    store, clock = InMemoryPersistenceProvider(), Clock(NOON - 5)
    await store.upsert_schedule(schedule(initial_data={"copies": 2}))
    scheduler = make(store, clock)
    assert await scheduler.poll() == []
    clock.now = NOON + 0.2
    [wf] = await scheduler.poll()
    await scheduler.drain()
    assert wf.state.copies == 2 and wf.metadata["schedule"] == "s"
    assert await scheduler.poll() == []  # the same tick again: nothing
    assert await started(store) == [("s:2024-05-01T12:00:00+00:00", S.COMPLETED)]
    [row] = await store.list_schedules()
    assert (row.last_tick_at, row.next_due_at) == (NOON, NOON + 60)


async def test_missed_ticks_run_once_for_the_latest(caplog: pytest.LogCaptureFixture) -> None:
    store, clock = InMemoryPersistenceProvider(), Clock(NOON + 3600 + 1)
    await store.upsert_schedule(schedule())
    scheduler = make(store, clock)
    with caplog.at_level(logging.WARNING, logger="ruvon.scheduler"):
        assert len(await scheduler.poll()) == 1
    await scheduler.drain()
    assert await started(store) == [("s:2024-05-01T13:00:00+00:00", S.COMPLETED)]
    assert "missed ticks from 2024-05-01T12:00:00+00:00 skipped" in caplog.text


async def test_two_schedulers_on_one_store_start_each_tick_once() -> None:
    store, clock = InMemoryPersistenceProvider(), Clock(NOON - 1)
    await store.upsert_schedule(schedule())
    first, second = make(store, clock), make(store, clock)
    for minute in range(5):
        clock.now = NOON + 60 * minute + 0.5
        # both read the schedule before either takes the tick: the compare-and-set decides
        [row] = await store.list_schedules()
        due = due_tick(row, clock.now)
        assert due is not None
        taken = [await first._take(due), await second._take(due)]
        assert len([wf for wf in taken if wf is not None]) == 1
        assert await second.poll() == [] and await first.poll() == []  # nothing left
    await first.drain()
    await second.drain()
    keys = [key for key, _ in await started(store)]
    assert keys == [f"s:2024-05-01T12:0{m}:00+00:00" for m in range(5)]


async def test_the_definitions_schedules_are_registered_without_moving_their_tick() -> None:
    store, clock = InMemoryPersistenceProvider(), Clock(NOON + 10)
    scheduler = make(store, clock, schedule="*/15 * * * *")
    assert await scheduler.register_definitions() == ["Report"]
    [row] = await store.list_schedules()
    assert (row.name, row.workflow_type, row.next_due_at) == ("Report", "Report", NOON + 900)
    clock.now = NOON + 600
    await make(store, clock, schedule="*/15 * * * *").register_definitions()
    assert (await store.list_schedules())[0].next_due_at == NOON + 900  # kept
    await make(store, clock, schedule="*/20 * * * *").register_definitions()
    assert (await store.list_schedules())[0].next_due_at == NOON + 1200  # changed: recomputed


async def test_a_scheduled_definition_must_accept_empty_initial_data() -> None:
    store = InMemoryPersistenceProvider()
    scheduler = make(store, Clock(NOON), schedule=MINUTE, initial_state_model="cron_steps.Needy")
    with pytest.raises(DefinitionError) as info:
        await scheduler.register_definitions()
    assert info.value.key == "schedule" and "customer_id" in str(info.value)


async def test_a_schedule_of_an_unknown_type_is_skipped_and_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, clock = InMemoryPersistenceProvider(), Clock(NOON + 1)
    await store.upsert_schedule(schedule(name="ghost", workflow_type="Ghost"))
    scheduler = make(store, clock)
    with caplog.at_level(logging.ERROR, logger="ruvon.scheduler"):
        assert await scheduler.poll() == []
        assert await scheduler.poll() == []
    assert caplog.text.count("schedule 'ghost' is skipped") == 1
    assert "unknown workflow type 'Ghost'" in caplog.text
    [row] = await store.list_schedules()
    assert row.last_tick_at is None  # left for a scheduler that knows the type


async def test_a_tick_taken_by_a_scheduler_that_died_is_started_by_the_next() -> None:
    store, clock = InMemoryPersistenceProvider(), Clock(NOON + 1)
    await store.upsert_schedule(schedule())
    # the dead scheduler took the tick and died before creating its workflow
    assert await store.claim_schedule_tick(
        "s", expected_due_at=NOON, tick_at=NOON, next_due_at=NOON + 60, now=NOON + 1
    )
    scheduler = make(store, clock)
    assert await scheduler.poll() == []  # no tick due: the check started the taken one
    await scheduler.drain()
    assert await started(store) == [("s:2024-05-01T12:00:00+00:00", S.COMPLETED)]
    await make(store, clock).poll()  # a third scheduler finds it done: nothing more
    assert len(await started(store)) == 1


async def test_the_check_leaves_a_workflow_its_live_creator_holds() -> None:
    store, clock = InMemoryPersistenceProvider(), Clock(NOON + 1)
    await store.upsert_schedule(schedule())
    live = make(store, clock)
    assert await store.claim_schedule_tick(
        "s", expected_due_at=NOON, tick_at=NOON, next_due_at=NOON + 60, now=NOON + 1
    )
    created = await live._workflow((await store.list_schedules())[0], NOON)  # not run yet
    assert created is not None and created.version == 0
    other = make(store, clock)
    await other.poll()
    assert not other.running  # the creator's lease is live: not run twice
    assert "s" not in other._checked  # looked at again on the next pass
    assert await live._start(created)
    await live.drain()
    await other.poll()
    assert "s" in other._checked
    assert await started(store) == [("s:2024-05-01T12:00:00+00:00", S.COMPLETED)]


class NoCompareAndSet(InMemoryPersistenceProvider):
    """A store whose tick claim lets everyone win: only the idempotency key is left."""

    async def claim_schedule_tick(self, name: str, **_: Any) -> bool:
        return True


async def test_the_idempotency_key_alone_still_starts_a_tick_once() -> None:
    store, clock = NoCompareAndSet(), Clock(NOON + 0.5)
    await store.upsert_schedule(schedule())
    first, second = make(store, clock), make(store, clock)
    [row] = await store.list_schedules()
    due = due_tick(row, clock.now)
    assert due is not None
    ran = [await first._take(due), await second._take(due)]
    await first.drain()
    await second.drain()
    assert [wf is not None for wf in ran] == [True, False]  # the second found it held
    [record] = await store.list_workflows(workflow_type="Report")
    assert len(await store.step_history(record.id)) == 1  # its step ran once


async def test_a_schedule_that_fails_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, clock = InMemoryPersistenceProvider(), Clock(NOON + 0.5)
    await store.upsert_schedule(schedule(name="a"))
    await store.upsert_schedule(schedule(name="b"))
    scheduler = make(store, clock)
    # tick a's key is taken by a workflow of another type
    other = WorkflowBuilder(
        workflow_registry={"Other": {**REPORT, "workflow_type": "Other"}},
        persistence_provider=store,
    )
    await other.create_workflow("Other", idempotency_key=tick_key("a", NOON))
    with caplog.at_level(logging.ERROR, logger="ruvon.scheduler"):
        [wf] = await scheduler.poll()
    await scheduler.drain()
    assert wf.metadata["schedule"] == "b"
    assert "schedule 'a':" in caplog.text and "idempotency key" in caplog.text
