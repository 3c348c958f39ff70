from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class Order(BaseModel):
    sku: str
    qty: int
    amount: float
    reservation: dict[str, Any] | None = None
    charge: dict[str, Any] | None = None
    confirmed: bool = False


def confirm(state: Order, context: StepContext) -> dict:
    return {"confirmed": True}
