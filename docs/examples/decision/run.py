import asyncio

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider


async def main() -> None:
    builder = WorkflowBuilder(persistence_provider=InMemoryPersistenceProvider())
    for order in (
        {"amount": 20000, "tier": "gold"},
        {"amount": 60000},
        {"amount": 250},
        {"amount": 100, "country": "XX"},
        {"amount": 13},
    ):
        wf = await builder.create_workflow("OrderRouting", order)
        await wf.next_step()
        history = await wf.persistence.step_history(wf.id)
        ran = [f"{r.step_name}:{r.status.value}" for r in history]
        print(order, "->", wf.status.value, wf.state.handled_by)
        print("   ", ", ".join(ran))


asyncio.run(main())
