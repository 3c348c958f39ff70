"""The trip's and the payment's steps. Side effects are simulated: each one writes a journal
line (see travel.journal)."""

from typing import Any

from ruvon.models import StepContext
from travel import journal
from travel.models import Payment, Trip


def _task(context: StepContext) -> str:
    return context.scope.rsplit(":", 1)[-1]  # "Book_Travel/task:hotel" -> "hotel"


# --- the trip (parent) ----------------------------------------------------------------------


def book(state: Trip, context: StepContext, **_: Any) -> dict:
    what = _task(context)
    reference = f"{what.upper()}-{state.trip_id}"
    journal.write(f"trip: book {what} {reference}")
    return {"bookings": {what: reference}}


def cancel(state: Trip, context: StepContext) -> dict:
    what = _task(context)
    journal.write(f"trip: cancel {what} {context.forward_result['bookings'][what]}")
    return {"bookings": {k: v for k, v in state.bookings.items() if k != what}}


def confirm(state: Trip, context: StepContext, **_: Any) -> dict:
    if state.fail_confirm:
        journal.write("trip: confirm fails")
        raise RuntimeError(f"the travel agency refused to confirm trip {state.trip_id}")
    journal.write("trip: confirm")
    return {"confirmed": True}


# --- the payment (child) --------------------------------------------------------------------


def authorize(state: Payment, context: StepContext, **_: Any) -> dict:
    journal.write(f"payment: authorize {state.amount:.2f}")
    return {"authorization": f"AUTH-{state.trip_id}"}


def void(state: Payment, context: StepContext) -> dict:
    journal.write(f"payment: void {state.authorization}")
    return {"authorization": None}


def capture(state: Payment, context: StepContext, **_: Any) -> dict:
    journal.write(f"payment: capture {state.amount:.2f}")
    return {"capture": f"CAP-{state.trip_id}"}


def refund(state: Payment, context: StepContext) -> dict:
    journal.write(f"payment: refund {state.capture}")
    return {"capture": None}
