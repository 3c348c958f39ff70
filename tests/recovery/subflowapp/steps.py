"""State models and step/compensation functions of the subflowapp workflows.

Each function passes ``fn:<name>:before``, records its side effect in the ledger, passes
``fn:<name>:after`` and returns a result that depends only on the state and the call.
``finish`` raises instead (before any effect) when the parent's ``fail`` is set: the parent
then unwinds, its child as a whole first. ``capture`` declines (raises, before any effect) an
amount over :data:`LIMIT`: the child fails on its own and, in saga mode, rolls itself back.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext
from subflowapp import ledger

SLOW = "SUBFLOW_SLOW"
"""``<function>=<seconds>``: that function takes so long before its effect (in this process)."""


def _effect(function: str, context: StepContext, note: str | None = None) -> None:
    slow, _, seconds = os.environ.get(SLOW, "").partition("=")
    if slow == function:
        time.sleep(float(seconds))
    ledger.checkpoint(f"fn:{function}:before", context.workflow_id)
    ledger.record(
        context.workflow_id,
        context.workflow_type,
        function,
        context.idempotency_key,
        context.attempt,
        note,
    )
    ledger.checkpoint(f"fn:{function}:after", context.workflow_id)


LIMIT = 1000.0


class Trip(BaseModel):
    trip_id: str = "T1"
    amount: float = 100.0
    fail: bool = False
    reserved: bool = False
    finished: bool = False
    sub_workflow_results: dict[str, Any] = {}


class Payment(BaseModel):
    trip_id: str
    amount: float
    authorized: bool = False
    captured: bool = False
    approved_by: str | None = None
    sub_workflow_results: dict[str, Any] = {}


class Posting(BaseModel):
    trip_id: str
    posted: bool = False


class Approval(BaseModel):
    by: str


class Failed(Exception):
    """The parent's last step failed: its saga unwinds."""


class Declined(Exception):
    """The child's capture was declined: the child fails on its own."""


# --- the parents (SubParent, SubParentHuman) ---------------------------------------------------


def reserve(state: Trip, context: StepContext) -> dict[str, Any]:
    _effect("reserve", context)
    return {"reserved": True}


def unreserve(state: Trip, context: StepContext) -> dict[str, Any]:
    _effect("unreserve", context)
    return {"reserved": False}


def finish(state: Trip, context: StepContext) -> dict[str, Any]:
    if state.fail:
        raise Failed(f"trip {state.trip_id} can not be finished")
    _effect("finish", context)
    return {"finished": True}


# --- the children (SubChild, SubChildHuman) ----------------------------------------------------


def authorize(state: Payment, context: StepContext) -> dict[str, Any]:
    _effect("authorize", context)
    return {"authorized": True}


def void(state: Payment, context: StepContext) -> dict[str, Any]:
    _effect("void", context)
    return {"authorized": False}


def capture(state: Payment, context: StepContext) -> dict[str, Any]:
    if state.amount > LIMIT:
        raise Declined(f"{state.amount} is over the limit")
    _effect("capture", context)
    return {"captured": True}


def refund(state: Payment, context: StepContext) -> dict[str, Any]:
    _effect("refund", context)
    return {"captured": False}


def approve(state: Payment, context: StepContext, by: str = "") -> dict[str, Any]:
    _effect("approve", context, note=by)
    return {"approved_by": by}


# --- the grandchild (SubGrandchild) ------------------------------------------------------------


def post(state: Posting, context: StepContext) -> dict[str, Any]:
    _effect("post", context)
    return {"posted": True}


def unpost(state: Posting, context: StepContext) -> dict[str, Any]:
    _effect("unpost", context)
    return {"posted": False}
