"""The tutorial's step and compensation functions, with durable side effects and kill points.

Each function passes ``fn:<name>:before``, records its side effect (one row in the counter
file, with ``context.idempotency_key``), passes ``fn:<name>:after`` and returns what the
tutorial's function returns. ``create_shipment`` raises instead (after ``fn:...:before``, with
no side effect) when the state's ``fail_shipment`` is set or ``CRASHAPP_FAIL_SHIPMENT=1``.
References are derived from the idempotency key, so a re-run returns the same values.

``CRASHAPP_HOLD=<function>`` makes that function, after its side effect, wait until the file
``CRASHAPP_HOLD_FILE`` exists (at most 30 s): a long-running step. ``charge_payment_async`` is
``charge_payment`` as an ``async def`` that waits with ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

from crashapp import effects
from crashapp.chaos import checkpoint
from crashapp.models import PaymentState
from ruvon.models import StepContext


class CarrierUnavailable(Exception):
    """The simulated failure of Create_Shipment."""


HOLD_LIMIT = 30.0


def _side_effect(function: str, context: StepContext) -> str:
    checkpoint(f"fn:{function}:before", context.workflow_id)
    effects.record(context.workflow_id, function, context.idempotency_key, context.attempt)
    checkpoint(f"fn:{function}:after", context.workflow_id)
    return hashlib.sha256(context.idempotency_key.encode()).hexdigest()[:10].upper()


def _held(function: str) -> bool:
    """Whether ``function`` should (still) wait for the hold file."""
    if os.environ.get("CRASHAPP_HOLD") != function:
        return False
    return not os.path.exists(os.environ["CRASHAPP_HOLD_FILE"])


def _hold(function: str) -> None:
    deadline = time.monotonic() + HOLD_LIMIT
    while _held(function) and time.monotonic() < deadline:
        time.sleep(0.02)  # blocks the event loop, as any synchronous step does


def create_order(state: PaymentState, context: StepContext, **kwargs: object) -> dict:
    ref = _side_effect("create_order", context)
    return {
        "order_created": True,
        "order_reference": f"ORD-{ref}",
        "workflow_status": "order_created",
    }


def cancel_order(state: PaymentState, context: StepContext, **kwargs: object) -> dict:
    _side_effect("cancel_order", context)
    return {
        "order_created": False,
        "compensations_run": [*state.compensations_run, "cancel_order"],
        "workflow_status": "order_canceled",
    }


def charge_payment(state: PaymentState, context: StepContext, **kwargs: object) -> dict:
    ref = _side_effect("charge_payment", context)
    _hold("charge_payment")
    return _charged(ref)


async def charge_payment_async(state: PaymentState, context: StepContext, **kwargs: object) -> dict:
    ref = _side_effect("charge_payment", context)
    deadline = time.monotonic() + HOLD_LIMIT
    while _held("charge_payment") and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return _charged(ref)


def _charged(ref: str) -> dict:
    return {
        "payment_charged": True,
        "transaction_id": f"TXN-{ref}",
        "payment_method": "card_****1234",
        "workflow_status": "payment_charged",
    }


def refund_payment(state: PaymentState, context: StepContext, **kwargs: object) -> dict:
    _side_effect("refund_payment", context)
    return {
        "payment_charged": False,
        "compensations_run": [*state.compensations_run, "refund_payment"],
        "workflow_status": "payment_refunded",
    }


def reserve_inventory(state: PaymentState, context: StepContext, **kwargs: object) -> dict:
    ref = _side_effect("reserve_inventory", context)
    return {
        "inventory_reserved": True,
        "reservation_id": f"RES-{ref}",
        "workflow_status": "inventory_reserved",
    }


def release_inventory(state: PaymentState, context: StepContext, **kwargs: object) -> dict:
    _side_effect("release_inventory", context)
    return {
        "inventory_reserved": False,
        "compensations_run": [*state.compensations_run, "release_inventory"],
        "workflow_status": "inventory_released",
    }


def create_shipment(state: PaymentState, context: StepContext, **kwargs: object) -> dict:
    if state.fail_shipment or os.environ.get("CRASHAPP_FAIL_SHIPMENT") == "1":
        checkpoint("fn:create_shipment:before", context.workflow_id)
        raise CarrierUnavailable("Carrier API unavailable")
    ref = _side_effect("create_shipment", context)
    return {
        "shipment_created": True,
        "tracking_number": f"TRACK-{ref}",
        "workflow_status": "completed",
    }


def cancel_shipment(state: PaymentState, context: StepContext, **kwargs: object) -> dict:
    _side_effect("cancel_shipment", context)
    return {
        "shipment_created": False,
        "compensations_run": [*state.compensations_run, "cancel_shipment"],
        "workflow_status": "shipment_canceled",
    }
