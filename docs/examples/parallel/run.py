import asyncio
import time

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider


async def book(executor, card_ok: bool) -> None:
    builder = WorkflowBuilder(
        persistence_provider=InMemoryPersistenceProvider(), execution_provider=executor
    )
    start = time.perf_counter()
    wf = await builder.create_workflow(
        "TripBooking", {"city": "Porto", "extras": ["bike", "boat", "museum"], "card_ok": card_ok}
    )
    await wf.next_step()
    took = time.perf_counter() - start  # three 0.2 s supplier calls
    how = "side by side" if took < 0.5 else "one after another"
    print(f"{type(executor).__name__}: {wf.status.value}, the bookings ran {how}")
    print(" ", wf.state.bookings, wf.state.quotes)


async def main() -> None:
    await book(ThreadPoolExecutor(max_workers=5), card_ok=True)
    await book(SyncExecutor(), card_ok=True)
    await book(SyncExecutor(), card_ok=False)  # the charge fails: every booking is undone


asyncio.run(main())
