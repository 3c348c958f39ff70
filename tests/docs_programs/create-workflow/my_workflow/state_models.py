# my_workflow/state_models.py
from pydantic import BaseModel, Field
from typing import Optional

class OrderState(BaseModel):
    """State for order processing workflow."""

    # Required fields
    order_id: str
    customer_id: str
    amount: float

    # Optional fields (populated during execution)
    status: Optional[str] = None
    payment_id: Optional[str] = None
    shipping_id: Optional[str] = None
    error_message: Optional[str] = None
