from pydantic import BaseModel
from typing import Optional


class PaymentState(BaseModel):
    """State for payment processing workflow"""

    # Order details
    order_id: str
    customer_id: str
    amount: float
    currency: str = "USD"

    # Step results
    order_created: bool = False
    order_reference: Optional[str] = None

    payment_charged: bool = False
    transaction_id: Optional[str] = None
    payment_method: Optional[str] = None

    inventory_reserved: bool = False
    reservation_id: Optional[str] = None

    shipment_created: bool = False
    tracking_number: Optional[str] = None

    # Compensation tracking
    compensations_run: list = []

    # Final status
    workflow_status: str = "pending"
