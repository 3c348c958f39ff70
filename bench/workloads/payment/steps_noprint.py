"""The seed tutorial's step functions with their prints removed (same bodies otherwise).

``FAIL_AT`` (set by the benchmark) makes ``create_shipment`` raise like the tutorial's
commented-out line, so the rollback variant runs three compensations.
"""

import uuid

FAIL_AT = {"shipment": False}


def create_order(state, context, **kwargs):
    order_ref = f"ORD-{uuid.uuid4().hex[:8].upper()}"
    return {"order_created": True, "order_reference": order_ref, "workflow_status": "order_created"}


def cancel_order(state, context, **kwargs):
    state.compensations_run.append("cancel_order")
    return {"order_created": False, "workflow_status": "order_canceled"}


def charge_payment(state, context, **kwargs):
    transaction_id = f"TXN-{uuid.uuid4().hex[:12].upper()}"
    payment_method = "card_****1234"
    return {
        "payment_charged": True,
        "transaction_id": transaction_id,
        "payment_method": payment_method,
        "workflow_status": "payment_charged",
    }


def refund_payment(state, context, **kwargs):
    state.compensations_run.append("refund_payment")
    return {"payment_charged": False, "workflow_status": "payment_refunded"}


def reserve_inventory(state, context, **kwargs):
    reservation_id = f"RES-{uuid.uuid4().hex[:8].upper()}"
    return {
        "inventory_reserved": True,
        "reservation_id": reservation_id,
        "workflow_status": "inventory_reserved",
    }


def release_inventory(state, context, **kwargs):
    state.compensations_run.append("release_inventory")
    return {"inventory_reserved": False, "workflow_status": "inventory_released"}


def create_shipment(state, context, **kwargs):
    if FAIL_AT["shipment"]:
        raise Exception("Carrier API unavailable")
    tracking_number = f"TRACK-{uuid.uuid4().hex[:10].upper()}"
    return {
        "shipment_created": True,
        "tracking_number": tracking_number,
        "workflow_status": "completed",
    }


def cancel_shipment(state, context, **kwargs):
    state.compensations_run.append("cancel_shipment")
    return {"shipment_created": False, "workflow_status": "shipment_canceled"}
