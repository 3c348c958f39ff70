import asyncio
import time
from datetime import datetime

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.scheduler import Scheduler


async def main() -> None:
    store = InMemoryPersistenceProvider()
    builder = WorkflowBuilder(persistence_provider=store)  # definitions in ./config

    setup = await builder.create_workflow("SetupReports", {"region": "eu"})
    await setup.run()
    print(setup.status.value, "->", setup.state.schedule_name)

    scheduler = Scheduler(builder, store, interval=0.1)
    print("from the definitions:", await scheduler.register_definitions())
    for s in await store.list_schedules():
        print(f"  {s.name}: {s.workflow_type} on '{s.cron_expression}' with {s.initial_data}")

    # the scheduler runs until stopped; stop it once three reports have started
    stop = asyncio.Event()

    async def stop_after_three_reports() -> None:
        while len(await store.list_workflows(workflow_type="Report")) < 3:
            await asyncio.sleep(0.05)
        stop.set()

    await asyncio.gather(scheduler.run(stop), stop_after_three_reports())
    reports = await store.list_workflows(workflow_type="Report")
    ticks = sorted(datetime.fromisoformat(r.metadata["tick"]) for r in reports)
    gaps = {(b - a).total_seconds() for a, b in zip(ticks, ticks[1:])}
    print(len(reports), "reports", {r.status.value for r in reports}, "ticks apart:", gaps)

    # a scheduler that comes back after an hour down starts the latest missed tick only
    back_at = time.time() + 3600
    later = Scheduler(builder, store, clock=lambda: back_at)
    started = [wf for wf in await later.poll() if wf.workflow_type == "Report"]
    await later.drain()
    tick = datetime.fromisoformat(started[0].metadata["tick"]).timestamp()
    print("an hour later:", len(started), "report, for the latest missed tick:", 0 <= back_at - tick < 2)


asyncio.run(main())
