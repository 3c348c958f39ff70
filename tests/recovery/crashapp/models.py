"""The tutorial's ``PaymentState`` plus ``fail_shipment`` (per-workflow failure switch)."""

from __future__ import annotations

from pydantic import BaseModel


class PaymentState(BaseModel):
    order_id: str
    customer_id: str
    amount: float
    currency: str = "USD"

    order_created: bool = False
    order_reference: str | None = None

    payment_charged: bool = False
    transaction_id: str | None = None
    payment_method: str | None = None

    inventory_reserved: bool = False
    reservation_id: str | None = None

    shipment_created: bool = False
    tracking_number: str | None = None

    compensations_run: list[str] = []
    workflow_status: str = "pending"

    # not in the tutorial: make Create_Shipment raise for this workflow (drives the unwind)
    fail_shipment: bool = False
