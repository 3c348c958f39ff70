# Not shown in docs/how-to-guides/testing.md: the steps of the workflows its tests run, written so
# that each test finds what it expects (see docs/ruvon-docs-programs.md).
from ruvon.models import StepContext, WorkflowJumpDirective

from my_app import database
from my_app.services import payment_service, shipping_service
from my_app.state_models import OrderState, RiskState, UserState


def validate_order(state: OrderState, context: StepContext, **user_input) -> dict:
    if state.amount is not None and state.amount <= 0:
        raise ValueError("Order amount must be positive")
    state.status = "validated"
    return {"validated": True, "step_completed": True}


def review_order(state: OrderState, context: StepContext, **user_input) -> dict:
    if not user_input.get("approved"):
        state.rejection_reason = user_input.get("rejection_reason")
        raise WorkflowJumpDirective("Close_Order", result={"approved": False})
    return {"approved": True, "approved_by": user_input.get("approved_by")}


def auto_process(state: OrderState, context: StepContext, **user_input) -> dict:
    return {"status": "processing"}


def reserve_inventory(state: OrderState, context: StepContext, **user_input) -> dict:
    return {"inventory_reserved": True}


def release_inventory(state: OrderState, context: StepContext, **user_input) -> dict:
    return {"inventory_reserved": False}


def charge_payment(state: OrderState, context: StepContext, **user_input) -> dict:
    payment_id = payment_service.charge(state.customer_id, state.amount)
    return {"payment_id": payment_id, "transaction_id": payment_id}


def refund_payment(state: OrderState, context: StepContext, **user_input) -> dict:
    return {"refund_id": payment_service.refund(state.payment_id)}


def ship_order(state: OrderState, context: StepContext, **user_input) -> dict:
    return {"shipping_id": shipping_service.ship(state.order_id), "status": "shipped"}


def close_order(state: OrderState, context: StepContext, **user_input) -> dict:
    return {"status": "closed" if state.approved or state.shipping_id else "rejected"}


async def load_user(state: UserState, context: StepContext, **user_input) -> dict:
    user = await database.get_user(state.user_id)
    return {"user_name": user["name"]}


def credit_check(state: RiskState, context: StepContext, **user_input) -> dict:
    return {"credit_check_complete": True}


def fraud_check(state: RiskState, context: StepContext, **user_input) -> dict:
    return {"fraud_check_complete": True}


def verify_income(state: RiskState, context: StepContext, **user_input) -> dict:
    return {"income_verification_complete": True}
