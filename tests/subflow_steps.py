"""Step functions and state models for the sub-workflow tests.

``JOURNAL`` lists what the functions did, in order, across parent and child (one process);
``FAIL`` names the steps whose next run raises (the tests set and clear it).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ruvon.models import StartSubWorkflowDirective, StepContext

JOURNAL: list[str] = []
FAIL: set[str] = set()
CALLS: dict[str, int] = {}


def step(name: str, fn: str, undo: str | None = None, **more: Any) -> dict[str, Any]:
    """A step of the tests' definitions calling ``fn`` of this module (undone by ``undo``)."""
    spec: dict[str, Any] = {"name": name, "function": f"subflow_steps.{fn}", **more}
    if undo:
        spec["compensate_function"] = f"subflow_steps.{undo}"
    return spec


def reset() -> None:
    """Forget what ran and what should fail (a test's fixture calls it before and after)."""
    JOURNAL.clear()
    FAIL.clear()
    CALLS.clear()


def _did(what: str) -> None:
    JOURNAL.append(what)
    CALLS[what] = CALLS.get(what, 0) + 1


def _maybe_fail(step: str) -> None:
    if step in FAIL:
        raise RuntimeError(f"{step} failed")


class Trip(BaseModel):
    trip_id: str = "T1"
    amount: float = 100.0
    reserved: bool = False
    finalized: bool = False
    sub_workflow_results: dict[str, Any] = {}


class Legs(Trip):
    legs: list[str] = []


class NarrowTrip(Trip):
    sub_workflow_results: dict[str, int] = {}  # a child's entry does not fit


class TaggedTrip(Trip):
    nobody: str | None = None
    tags: list[str] = []


class Payment(BaseModel):
    trip_id: str
    amount: float
    authorized: bool = False
    captured: bool = False
    approved_by: str | None = None
    sub_workflow_results: dict[str, Any] = {}


class Ledger(BaseModel):
    trip_id: str
    posted: bool = False
    approved_by: str | None = None


class TaggedLedger(Ledger):
    tags: list[str] = []
    note: str = ""


class Approval(BaseModel):
    by: str


# --- the parent ---------------------------------------------------------------------------------


def reserve(state: Trip, context: StepContext) -> dict[str, Any]:
    _did("reserve")
    _maybe_fail("reserve")
    return {"reserved": True}


def unreserve(state: Trip, context: StepContext) -> dict[str, Any]:
    _did("undo reserve")
    return {"reserved": False}


def finalize(state: Trip, context: StepContext) -> dict[str, Any]:
    _did("finalize")
    _maybe_fail("finalize")
    return {"finalized": True}


def start_payment(state: Trip, context: StepContext) -> dict[str, Any]:
    _did("start_payment")
    raise StartSubWorkflowDirective(
        workflow_type="Payment",
        initial_data={"trip_id": state.trip_id, "amount": state.amount},
        data_region="eu-west",
    )


def start_with_list(state: Trip, context: StepContext) -> dict[str, Any]:
    raise StartSubWorkflowDirective("Payment", [1, 2])  # type: ignore[arg-type]


def start_unknown(state: Trip, context: StepContext) -> dict[str, Any]:
    raise StartSubWorkflowDirective("NoSuchType", {})


# --- the child (Payment) and the grandchild (Ledger) --------------------------------------------


def authorize(state: Payment, context: StepContext) -> dict[str, Any]:
    _did("authorize")
    _maybe_fail("authorize")
    return {"authorized": True}


def void(state: Payment, context: StepContext) -> dict[str, Any]:
    _did("undo authorize")
    _maybe_fail("void")
    return {"authorized": False}


def capture(state: Payment, context: StepContext) -> dict[str, Any]:
    _did("capture")
    _maybe_fail("capture")
    return {"captured": True}


def refund(state: Payment, context: StepContext) -> dict[str, Any]:
    _did("undo capture")
    _maybe_fail("refund")
    return {"captured": False}


def approve(state: Payment, context: StepContext, by: str = "") -> dict[str, Any]:
    _did(f"approved by {by}")
    return {"approved_by": by}


def post(state: Ledger, context: StepContext) -> dict[str, Any]:
    _did("post")
    _maybe_fail("post")
    return {"posted": True}


def unpost(state: Ledger, context: StepContext) -> dict[str, Any]:
    _did("undo post")
    return {"posted": False}


def sign(state: Ledger, context: StepContext, by: str = "") -> dict[str, Any]:
    _did(f"signed by {by}")
    return {"approved_by": by}
