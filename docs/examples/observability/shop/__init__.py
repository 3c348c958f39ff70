from pydantic import BaseModel

from ruvon.models import StepContext

GATEWAY_CALLS: dict[str, int] = {}


class Order(BaseModel):
    order_id: str
    in_stock: bool = True
    reserved: bool = False
    charged: bool = False
    shipped: bool = False


def reserve(state: Order, context: StepContext) -> dict:
    return {"reserved": True}


def release(state: Order, context: StepContext) -> dict:
    return {"reserved": False}


def charge(state: Order, context: StepContext) -> dict:
    calls = GATEWAY_CALLS[state.order_id] = GATEWAY_CALLS.get(state.order_id, 0) + 1
    if calls == 1:
        raise ConnectionError("payment gateway timed out")  # retried once
    return {"charged": True}


def refund(state: Order, context: StepContext) -> dict:
    return {"charged": False}


def ship(state: Order, context: StepContext) -> dict:
    if not state.in_stock:
        raise RuntimeError("the warehouse has none left")
    return {"shipped": True}
