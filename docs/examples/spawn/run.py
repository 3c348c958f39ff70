import asyncio

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider


async def main() -> None:
    builder = WorkflowBuilder(persistence_provider=InMemoryPersistenceProvider())
    for in_stock in (True, False):
        order = await builder.create_workflow(
            "Order", {"customer": "ann", "amount": 42.0, "in_stock": in_stock}
        )
        await order.next_step()
        print(f"order: {order.status.value}, charged={order.state.charged}")
        await asyncio.sleep(0.1)  # the receipt runs on its own, in the background
        [receipt_id] = order.state.spawned_workflows
        receipt = await builder.load_workflow(receipt_id)
        print(f"  receipt {receipt.status.value}: emailed={receipt.state.emailed}, "
              f"for {receipt.state.customer} {receipt.state.amount}, parent is the order: "
              f"{receipt.parent_id == order.id}")


asyncio.run(main())
