"""What ``test_fuzz_cron.py`` found about the scheduler, each as the smallest timeline that
shows it (on a fake clock; the workflow from ``fuzzapp.cron``)."""

from __future__ import annotations

from datetime import UTC, datetime

from fuzzapp import cron as app

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.providers.persistence import ScheduleRecord
from ruvon.scheduler import Scheduler, tick_key

NOON = datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp()
REPORT = {
    "workflow_type": "Report",
    "initial_state_model": "fuzzapp.cron.Report",
    "steps": [{"name": "Write", "function": "fuzzapp.cron.report"}],
}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_running_scheduler_whose_first_check_waited_finishes_a_dead_scheduler_s_tick() -> (
    None
):
    """The docs said a scheduler that keeps running never finishes a tick a dead scheduler
    took after it started. It does when its own first check of that schedule had to wait (it
    found the last tick's workflow just created by a racing scheduler, held by its runner, and
    looks again on its next pass): that pass finishes the dead scheduler's tick, once."""
    store, clock = InMemoryPersistenceProvider(), Clock(NOON + 1)
    every_second = "* * * * * *"
    await store.upsert_schedule(
        ScheduleRecord(
            name="s", workflow_type="Report", cron_expression=every_second, next_due_at=NOON + 1
        )
    )
    builder = WorkflowBuilder(workflow_registry={"Report": REPORT}, persistence_provider=store)
    a = Scheduler(builder, store, clock=clock, name="A")
    b = Scheduler(builder, store, clock=clock, name="B")
    # B takes the tick at 12:00:01 and has created its workflow, not started it yet ...
    [row] = await store.list_schedules()
    assert await store.claim_schedule_tick(
        "s", expected_due_at=NOON + 1, tick_at=NOON + 1, next_due_at=NOON + 2, now=NOON + 1
    )
    held = await b._workflow(row, NOON + 1)
    assert held is not None
    assert await a.poll() == []  # ... when A first looks: A's check waits for it
    assert "s" not in a._checked
    assert await b._start(held)
    await b.drain()
    # a third scheduler takes the tick at 12:00:03 and dies before creating its workflow
    clock.now = NOON + 3
    assert await store.claim_schedule_tick(
        "s", expected_due_at=NOON + 2, tick_at=NOON + 3, next_due_at=NOON + 4, now=NOON + 3
    )
    await a.poll()  # A's check, looked at again, finishes it (in the background)
    await a.drain()
    keys = sorted(r.idempotency_key for r in await store.list_workflows(workflow_type="Report"))
    assert keys == [tick_key("s", NOON + 1), tick_key("s", NOON + 3)]
    assert all(app.CALLS[r.id] == 1 for r in await store.list_workflows(workflow_type="Report"))
