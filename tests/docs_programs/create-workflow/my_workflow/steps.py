# my_workflow/steps.py
from ruvon.models import StepContext
from .state_models import OrderState

def validate_order(state: OrderState, context: StepContext) -> dict:
    """Validate order details."""

    # Access workflow state
    if state.amount <= 0:
        raise ValueError("Order amount must be positive")

    if state.amount > 10000:
        state.status = "requires_approval"
    else:
        state.status = "validated"

    # Return dict to update state
    from datetime import datetime
    return {
        "status": state.status,
        "validated_at": datetime.utcnow().isoformat()
    }

def process_payment(state: OrderState, context: StepContext) -> dict:
    """Process payment for order."""

    # Simulate payment processing
    payment_id = f"PAY-{state.order_id}"
    state.payment_id = payment_id

    return {
        "payment_id": payment_id,
        "payment_status": "completed"
    }

def ship_order(state: OrderState, context: StepContext) -> dict:
    """Arrange order shipping."""

    shipping_id = f"SHIP-{state.order_id}"
    state.shipping_id = shipping_id

    return {
        "shipping_id": shipping_id,
        "status": "shipped"
    }
