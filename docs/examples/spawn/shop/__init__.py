import asyncio
from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class Order(BaseModel):
    customer: str
    amount: float
    in_stock: bool = True
    charged: bool = False
    shipped: bool = False
    spawned_workflows: list[str] = []


class Receipt(BaseModel):
    customer: str
    amount: float
    emailed: bool = False


async def charge(state: Order, context: StepContext, **_: Any) -> dict:
    await asyncio.sleep(0.01)  # a payment provider's API
    return {"charged": True}


def refund(state: Order, context: StepContext) -> dict:
    return {"charged": False}


def ship(state: Order, context: StepContext, **_: Any) -> dict:
    if not state.in_stock:
        raise RuntimeError("out of stock")
    return {"shipped": True}


def email(state: Receipt, context: StepContext, **_: Any) -> dict:
    return {"emailed": True}
