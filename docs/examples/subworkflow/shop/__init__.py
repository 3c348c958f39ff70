from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext

LOG: list[str] = []  # what the steps did, in order, across both workflows


class Order(BaseModel):
    order_id: str
    amount: float
    in_stock: bool = True
    reserved: bool = False
    shipped: bool = False
    sub_workflow_results: dict[str, Any] = {}


class Payment(BaseModel):
    order_id: str
    amount: float
    authorized: bool = False
    captured: bool = False
    reviewed_by: str | None = None


class Verdict(BaseModel):
    reviewer: str
    approve: bool


def reserve(state: Order, context: StepContext) -> dict:
    LOG.append("reserve stock")
    return {"reserved": True}


def release(state: Order, context: StepContext) -> dict:
    LOG.append("release stock")
    return {"reserved": False}


def ship(state: Order, context: StepContext) -> dict:
    if not state.in_stock:
        raise RuntimeError("the warehouse has none left")
    LOG.append("ship")
    return {"shipped": True}


def authorize(state: Payment, context: StepContext) -> dict:
    LOG.append(f"authorize {state.amount}")
    return {"authorized": True}


def void(state: Payment, context: StepContext) -> dict:
    LOG.append("void authorization")
    return {"authorized": False}


def record_verdict(state: Payment, context: StepContext, reviewer: str, approve: bool) -> dict:
    if not approve:
        raise RuntimeError(f"{reviewer} refused the payment")
    LOG.append(f"reviewed by {reviewer}")
    return {"reviewed_by": reviewer}


def capture(state: Payment, context: StepContext) -> dict:
    LOG.append("capture")
    return {"captured": True}


def refund(state: Payment, context: StepContext) -> dict:
    LOG.append("refund")
    return {"captured": False}
