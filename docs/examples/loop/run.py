import asyncio

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider


async def main() -> None:
    builder = WorkflowBuilder(persistence_provider=InMemoryPersistenceProvider())
    lines = [{"sku": "apple", "qty": 3}, {"sku": "pear", "qty": 1}, {"sku": "fig", "qty": 12}]
    for card_ok in (True, False):
        print(f"card_ok={card_ok}")
        wf = await builder.create_workflow("Fulfilment", {"lines": lines, "card_ok": card_ok})
        result = await wf.next_step()
        print(" ", wf.status.value, wf.state.reserved, "iterations:", wf.state.loop_iterations)
        if result:
            print("  result:", result)


asyncio.run(main())
