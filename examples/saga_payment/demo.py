"""Run the tutorial's main() on the embedded SQLite store, optionally with one step failing.

    python demo.py                              # success, stored in ruvon_demo.db
    SIMULATE_FAILURE=shipment python demo.py    # Create_Shipment raises -> 3 compensations
    SIMULATE_FAILURE=payment  python demo.py    # Charge_Payment raises  -> cancel_order only
    RUVON_DEMO_DB=memory:// python demo.py      # the tutorial's in-memory store instead

SIMULATE_FAILURE takes order, payment, inventory or shipment. Nothing in the tutorial's files
is edited: the named step function in payment_processor.steps is replaced by one that
announces the failure and raises (as uncommenting the tutorial's `raise` line does), and the
tutorial's InMemoryPersistenceProvider() call is pointed at the store named by RUVON_DEMO_DB
(default sqlite:///ruvon_demo.db), so every run is kept and `ruvon list` shows them all.
"""

import asyncio
import functools
import os

import main
import payment_processor.steps as steps

from ruvon.implementations.persistence import store_from_url

TARGETS = {
    "order": ("create_order", "Order service unavailable"),
    "payment": ("charge_payment", "Payment gateway timeout"),
    "inventory": ("reserve_inventory", "Inventory service unavailable"),
    "shipment": ("create_shipment", "Carrier API unavailable"),
}


def inject(name: str, message: str) -> None:
    original = getattr(steps, name)

    @functools.wraps(original)
    def failing(state, context, **kwargs):
        print(f"\n💥 SIMULATE_FAILURE: {name} raises {message!r}")
        raise Exception(message)

    setattr(steps, name, failing)


if __name__ == "__main__":
    choice = os.environ.get("SIMULATE_FAILURE")
    if choice:
        if choice not in TARGETS:
            raise SystemExit(
                f"SIMULATE_FAILURE must be one of {', '.join(TARGETS)}; got {choice!r}"
            )
        inject(*TARGETS[choice])
    url = os.environ.get("RUVON_DEMO_DB", "sqlite:///ruvon_demo.db")
    main.InMemoryPersistenceProvider = lambda: store_from_url(url)
    print(f"(store: {url}; SIMULATE_FAILURE={choice or 'off'})")
    asyncio.run(main.main())
