"""Run the tutorial's main.py with one step made to fail, without editing the tutorial's code.

    SIMULATE_FAILURE=shipment python run_with_failure.py   # Create_Shipment raises -> 3 compensations
    SIMULATE_FAILURE=payment  python run_with_failure.py   # Charge_Payment raises  -> cancel_order only

Values: order, payment, inventory, shipment. The named step function in
payment_processor.steps is replaced by one that announces the failure and raises, the way
uncommenting the tutorial's `raise` line does.
"""

import asyncio
import functools
import os

import payment_processor.steps as steps

import main

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
    choice = os.environ.get("SIMULATE_FAILURE", "shipment")
    if choice not in TARGETS:
        raise SystemExit(f"SIMULATE_FAILURE must be one of {', '.join(TARGETS)}; got {choice!r}")
    inject(*TARGETS[choice])
    print(f"(SIMULATE_FAILURE={choice}: {TARGETS[choice][0]} will raise)")
    asyncio.run(main.main())
