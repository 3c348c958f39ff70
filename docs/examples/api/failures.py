import asyncio

import shop

from ruvon import WorkflowBuilder
from ruvon.errors import IllegalOperationError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider


def show(exc: IllegalOperationError) -> None:
    print(f"  {type(exc).__name__}: {str(exc).replace(exc.workflow_id or '', '<id>')}")


def journal(wf) -> None:
    for entry in wf.compensation_journal:
        print(f"  {entry.step_name}: {entry.status.value} ({entry.detail or entry.function})")


async def main() -> None:
    builder = WorkflowBuilder(persistence_provider=InMemoryPersistenceProvider())
    order = {"order_id": "A-1", "amount": 250}

    print("-- a step fails without saga mode; retry() once the cause is gone")
    wf = await builder.create_workflow("Order", order)
    await wf.next_step()
    shop.WAREHOUSE["open"] = False
    await wf.resume({"approved": True})
    print(wf.status, wf.current_step_name, wf.error.type, wf.error.message, wf.error.step)
    try:
        await wf.next_step()
    except IllegalOperationError as exc:  # WorkflowFinishedError, a subclass
        show(exc)
    shop.WAREHOUSE["open"] = True
    print(await wf.retry(), wf.error, wf.state.shipped)

    print("-- the same failure in saga mode: the completed steps are undone, newest first")
    wf = await builder.create_workflow("Order", order)
    wf.enable_saga_mode()
    await wf.next_step()
    await wf.resume({"approved": False})
    print(wf.status, wf.error.message, "reserved", wf.state.reserved, "charged", wf.state.charged)
    journal(wf)
    try:
        await wf.retry()
    except IllegalOperationError as exc:
        show(exc)

    print("-- cancel() while it waits for input")
    wf = await builder.create_workflow("Order", order)
    wf.enable_saga_mode()
    await wf.next_step()
    print(await wf.cancel("the customer called"), wf.error.type, wf.error.message)
    journal(wf)
    for call in (wf.cancel(), wf.resume({"approved": True}), wf.approve_compensation()):
        try:
            await call
        except IllegalOperationError as exc:
            show(exc)

    print("-- a compensation that needs an operator's approval")
    wf = await builder.create_workflow("Payout", order)
    await wf.next_step()  # Pay, then Ship fails: the unwind stops before refunding
    print(wf.status, wf.waiting_for["step"], wf.waiting_for["approval"])
    print(await wf.approve_compensation(decided_by="ops@example.com", reason="refund by hand"))
    journal(wf)


asyncio.run(main())
