from ruvon.models import StepContext
from my_app.state_models import OrderState

def check_order_amount(state: OrderState, context: StepContext) -> dict:
    """Check order amount and set routing metadata."""

    # Decision function just returns metadata
    # Routing is handled by YAML conditions
    return {
        "amount_checked": True,
    }
