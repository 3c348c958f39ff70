import asyncio

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from shop import LOG


async def main() -> None:
    store = InMemoryPersistenceProvider()
    builder = WorkflowBuilder(persistence_provider=store)

    # 1. the child completes: its final state lands in the parent's state
    order = await builder.create_workflow("Order", {"order_id": "A-1", "amount": 80})
    await order.run()
    [(child_id, child)] = order.state.sub_workflow_results.items()
    print(f"A-1: {order.status.value}; payment {child['status']}, "
          f"captured={child['state']['captured']}; {LOG}")

    # 2. Ship fails after the payment completed: the child is unwound first, as a whole
    LOG.clear()
    order = await builder.create_workflow(
        "Order", {"order_id": "A-2", "amount": 80, "in_stock": False}
    )
    await order.run()
    [child_id] = order.state.sub_workflow_results
    payment = await builder.load_workflow(child_id)
    print(f"A-2: {order.status.value}; payment {payment.status.value}; {LOG}")

    # 3. the child waits for a person, and so does its parent; resuming the child (here by
    #    its id, as another process would) finishes both
    LOG.clear()
    order = await builder.create_workflow("Order", {"order_id": "A-3", "amount": 5000})
    await order.run()
    [waiting] = await store.list_workflows(status="WAITING_HUMAN")
    print(f"A-3: {order.status.value}; payment {waiting.status.value} at "
          f"{(await builder.load_workflow(waiting.id)).waiting_for['step']}")
    payment = await builder.load_workflow(waiting.id)
    await payment.resume({"reviewer": "dora", "approve": True})
    order = await builder.load_workflow(order.id)
    print(f"A-3: {order.status.value}; payment {payment.status.value}; {LOG}")


asyncio.run(main())
