import time
from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class Trip(BaseModel):
    city: str
    extras: list[str] = []
    bookings: dict[str, str] = {}
    quotes: dict[str, float] = {}
    card_ok: bool = True
    charged: bool = False


def book(state: Trip, context: StepContext, **_: Any) -> dict:
    what = context.scope.rsplit(":", 1)[-1]  # "Book_All/task:hotel" -> "hotel"
    time.sleep(0.2)  # a slow call to a supplier
    return {"bookings": {what: f"{what.upper()}-{state.city}"}}


def cancel(state: Trip, context: StepContext) -> dict:
    what = context.scope.rsplit(":", 1)[-1]
    print(f"  cancel {what} ({context.forward_result['bookings'][what]})")
    return {"bookings": {k: v for k, v in state.bookings.items() if k != what}}


def quote(state: Trip, context: StepContext, extra: str = "") -> dict:
    return {"quotes": {extra: 10.0 * len(extra)}}


def charge(state: Trip, context: StepContext, **_: Any) -> dict:
    if not state.card_ok:
        raise RuntimeError("card declined")
    return {"charged": True}
