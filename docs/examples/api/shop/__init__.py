"""The example project of docs/api.md: an order is reserved, charged, approved and shipped."""

import asyncio
import threading
from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext

WAREHOUSE = {"open": True}  # ship() fails while it is closed: an outage that retry() outlasts
PACKING = {"started": asyncio.Event(), "go": asyncio.Event()}  # lets stores.py close mid-step


class Approval(BaseModel):
    approved: bool


class Order(BaseModel):
    order_id: str
    amount: float
    reserved: bool = False
    charged: bool = False
    approved: bool | None = None
    shipped: bool = False
    note: str | None = None


def reserve(state: Order, context: StepContext, **_: Any) -> dict:
    return {"reserved": True}


def release(state: Order, context: StepContext, **_: Any) -> dict:
    return {"reserved": False}


def charge(state: Order, context: StepContext, **_: Any) -> dict:
    return {"charged": True}


def refund(state: Order, context: StepContext, **_: Any) -> dict:
    return {"charged": False}


def approve(state: Order, context: StepContext, approved: bool, **_: Any) -> dict:
    return {"approved": approved}


def ship(state: Order, context: StepContext, **_: Any) -> dict:
    if not state.approved:
        raise RuntimeError(f"order {state.order_id} was not approved")
    if not WAREHOUSE["open"]:
        raise ConnectionError("the warehouse is closed")
    return {"shipped": True}


async def pack(state: Order, context: StepContext, **_: Any) -> dict:
    PACKING["started"].set()
    await PACKING["go"].wait()
    return {"note": "packed"}


def audit(state: Order, context: StepContext, **_: Any) -> dict:
    thread = threading.current_thread().name.split("_")[0]
    return {"note": f"{state.note} (audited on {thread})"}
