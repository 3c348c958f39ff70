"""A project for the dashboard's tests and bench: the saga tutorial, plus two definitions built
from its steps, seeded into a store with one workflow in each interesting status.

``make_app_dir(dir)`` writes the tutorial's files (verbatim, from the seed), ``dashboard_steps.py``
and two more YAML files into ``dir``; ``seed(store, dir)`` runs workflows there:

- ``PaymentProcessing`` (the tutorial): completed ones, rolled-back ones (``Create_Shipment``
  fails, as with ``SIMULATE_FAILURE=shipment python demo.py``), one that failed the same way
  without saga mode (``FAILED``: a retry completes it) and one created but not advanced;
- ``PaymentReview``: waits at a HUMAN_IN_LOOP step whose ``input_model`` has a string, a
  boolean, an integer and an optional field;
- ``PaymentWithApproval``: its shipment fails, and the refund needs an operator's approval.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ruvon.builder import WorkflowBuilder
from ruvon.providers.persistence import PersistenceProvider
from seed_tutorial import write_tutorial

STEPS_MODULE = '''\
"""Steps the dashboard tests add to the tutorial's."""

from pydantic import BaseModel, Field


class ReviewInput(BaseModel):
    reviewer: str = Field(min_length=1, description="who reviewed the payment")
    approve: bool
    risk_score: int = Field(0, ge=0, le=100)
    note: str | None = None


def record_review(state, context, reviewer, approve, risk_score=0, note=None):
    if not approve:
        raise RuntimeError(f"{reviewer} refused the payment")
    return {"workflow_status": f"reviewed by {reviewer} (risk {risk_score})"}


def carrier_down(state, context, **kwargs):
    raise RuntimeError("Carrier API unavailable")
'''

REVIEW_YAML = """\
workflow_type: PaymentReview
workflow_version: "1.0.0"
initial_state_model: payment_processor.models.PaymentState
saga_mode: true
steps:
  - name: Create_Order
    function: payment_processor.steps.create_order
    compensate_function: payment_processor.steps.cancel_order
    automate_next: true
  - name: Fraud_Review
    type: HUMAN_IN_LOOP
    input_model: dashboard_steps.ReviewInput
    function: dashboard_steps.record_review
    automate_next: true
  - name: Charge_Payment
    function: payment_processor.steps.charge_payment
    compensate_function: payment_processor.steps.refund_payment
"""

APPROVAL_YAML = """\
workflow_type: PaymentWithApproval
workflow_version: "1.0.0"
initial_state_model: payment_processor.models.PaymentState
saga_mode: true
steps:
  - name: Create_Order
    function: payment_processor.steps.create_order
    compensate_function: payment_processor.steps.cancel_order
    automate_next: true
  - name: Charge_Payment
    function: payment_processor.steps.charge_payment
    compensate_function: payment_processor.steps.refund_payment
    compensation_requires_approval: true
    automate_next: true
  - name: Reserve_Inventory
    function: payment_processor.steps.reserve_inventory
    compensate_function: payment_processor.steps.release_inventory
    automate_next: true
  - name: Create_Shipment
    function: dashboard_steps.carrier_down
    compensate_function: payment_processor.steps.cancel_shipment
"""


def make_app_dir(directory: Path) -> Path:
    """Lay the project out in ``directory``; returns its ``config`` directory."""
    write_tutorial(directory)
    (directory / "dashboard_steps.py").write_text(STEPS_MODULE, encoding="utf-8")
    (directory / "config" / "payment_review.yaml").write_text(REVIEW_YAML, encoding="utf-8")
    (directory / "config" / "payment_approval.yaml").write_text(APPROVAL_YAML, encoding="utf-8")
    return directory / "config"


@contextlib.contextmanager
def importable(directory: Path) -> Iterator[None]:
    """The project's modules importable (as ``python main.py`` in it would have them)."""
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        sys.path.remove(str(directory))


@contextlib.contextmanager
def shipment_fails() -> Iterator[None]:
    """``Create_Shipment`` raises, as the tutorial's commented-out line does (demo.py's way)."""
    import payment_processor.steps as steps

    original = steps.create_shipment

    def failing(state: object, context: object, **kwargs: object) -> dict[str, object]:
        raise Exception("Carrier API unavailable")

    steps.create_shipment = failing
    try:
        yield
    finally:
        steps.create_shipment = original


@dataclass(slots=True, kw_only=True)
class Seeded:
    completed: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    failed: str = ""
    waiting: str = ""
    approval: str = ""
    active: str = ""


def _order(n: int) -> dict[str, object]:
    return {"order_id": f"ORD-{n:05d}", "customer_id": f"CUST-{n % 97:03d}", "amount": 10.0 + n}


async def seed(
    store: PersistenceProvider, directory: Path, *, completed: int = 3, rolled_back: int = 2
) -> Seeded:
    """Run the workflows listed in the module docstring on ``store`` (with ``directory``
    importable and its config); returns their ids."""
    out = Seeded()
    with importable(directory), contextlib.redirect_stdout(None):
        builder = WorkflowBuilder(config_dir=directory / "config", persistence_provider=store)
        n = 0
        for _ in range(completed):
            n += 1
            wf = await builder.create_workflow("PaymentProcessing", _order(n))
            wf.enable_saga_mode()
            await wf.run()
            out.completed.append(wf.id)
        with shipment_fails():  # a builder of its own: it imports the failing function
            failing = WorkflowBuilder(config_dir=directory / "config", persistence_provider=store)
            for _ in range(rolled_back):
                n += 1
                wf = await failing.create_workflow("PaymentProcessing", _order(n))
                wf.enable_saga_mode()
                await wf.run()
                out.rolled_back.append(wf.id)
            n += 1
            wf = await failing.create_workflow("PaymentProcessing", _order(n))
            await wf.run()  # without saga mode: FAILED, and retry() runs the step again
            out.failed = wf.id
        wf = await builder.create_workflow("PaymentReview", _order(n + 1))
        await wf.run()
        out.waiting = wf.id
        wf = await builder.create_workflow("PaymentWithApproval", _order(n + 2))
        await wf.run()
        out.approval = wf.id
        wf = await builder.create_workflow("PaymentProcessing", _order(n + 3))
        out.active = wf.id
    return out
