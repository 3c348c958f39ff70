from orders.models import OrderState
from ruvon.models import StepContext


def reserve_stock(state: OrderState, context: StepContext, **user_input) -> dict:
    return {"stock_reserved": True, "reservation_id": f"RES-{state.order_id}"}


def release_stock(state: OrderState, context: StepContext, **user_input) -> dict:
    return {"stock_reserved": False, "reservation_id": None}


def charge_card(state: OrderState, context: StepContext, **user_input) -> dict:
    # a real step calls the payment provider here, passing context.idempotency_key
    return {"charged": True, "charge_id": f"CH-{state.order_id}"}


def refund_card(state: OrderState, context: StepContext, **user_input) -> dict:
    return {"charged": False}


def approve(state: OrderState, context: StepContext, **user_input) -> dict:
    return {"approved_by": user_input["approved_by"]}


def ship(state: OrderState, context: StepContext, **user_input) -> dict:
    return {"shipped": True}
