from typing import Any

from pydantic import BaseModel, Field

from ruvon.models import StepContext


class Expense(BaseModel):
    employee: str
    amount: float
    submitted: bool = False
    approved: bool | None = None
    approver: str | None = None
    comment: str | None = None
    paid: bool = False
    outcome: str | None = None


class ApprovalInput(BaseModel):
    approved: bool
    approver: str = Field(min_length=1)
    comment: str | None = None


def submit(state: Expense, context: StepContext, **_: Any) -> dict:
    return {"submitted": True}


def record_decision(state: Expense, context: StepContext, **user_input: Any) -> dict:
    decision: ApprovalInput = context.validated_input
    return decision.model_dump()


def pay(state: Expense, context: StepContext, **_: Any) -> dict:
    return {"paid": True}


def notify(state: Expense, context: StepContext, **_: Any) -> dict:
    return {"outcome": "rejection sent"}


def done(state: Expense, context: StepContext, **_: Any) -> dict:
    return {"outcome": state.outcome or "paid"}
