import asyncio
import os

from shop.service import ShopService

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider


async def main() -> None:
    os.environ.setdefault("SHOP_API_KEY", "sk_test_4f9a")  # a secret: set it outside, normally
    shop = ShopService(api_key=os.environ["SHOP_API_KEY"])
    os.environ["SHOP_URL"] = shop.url
    builder = WorkflowBuilder(persistence_provider=InMemoryPersistenceProvider())
    orders = [{"sku": "lamp", "qty": 2, "amount": 40.0}, {"sku": "sofa", "qty": 1, "amount": 1800.0}]
    for order in orders:
        shop.log.clear()
        wf = await builder.create_workflow("Checkout", order)
        await wf.next_step()
        print(order["sku"], "->", wf.status.value)
        for method, path, status, key in shop.log:
            print(f"    {method} {path} -> {status}  Idempotency-Key: <id>{key[len(wf.id):]}")
        print("    reservation:", wf.state.reservation)
        print("    charge:", wf.state.charge)
        if wf.error:
            print("    error:", wf.error.message.replace(shop.url, "$SHOP_URL"))
    shop.close()


asyncio.run(main())
