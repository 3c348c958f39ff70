from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext, WorkflowJumpDirective


class OrderState(BaseModel):
    amount: float
    tier: str = "basic"
    country: str = "DE"
    risk_score: float = 0.0
    handled_by: str | None = None
    confirmed: bool = False


def score_order(state: OrderState, context: StepContext, **_: Any) -> dict:
    if state.country == "XX":  # a code path the routes do not cover: jump yourself
        raise WorkflowJumpDirective("Fraud_Review", result={"risk_score": 1.0})
    return {"risk_score": 0.9 if state.amount > 50000 else 0.1}


def handle(state: OrderState, context: StepContext, **_: Any) -> dict:
    return {"handled_by": context.step_name}


def unhandle(state: OrderState, context: StepContext) -> dict:
    return {"handled_by": None}


def confirm(state: OrderState, context: StepContext, **_: Any) -> dict:
    if state.amount == 13:
        raise RuntimeError("unlucky amount")
    return {"confirmed": True}
