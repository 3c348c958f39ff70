"""The loan application's steps. Side effects are simulated: each one prints a line."""

from typing import Any

from loan_app.models import LoanState, ReviewDecision, Tranche
from ruvon.models import StepContext


def credit_check(state: LoanState, context: StepContext, **_: Any) -> dict:
    score = 720 if not state.applicant.startswith("risky") else 420
    parts = 3 if state.amount > 20000 else 1
    tranches = [Tranche(number=i + 1, amount=round(state.amount / parts, 2)) for i in range(parts)]
    return {"credit_score": score, "tranches": tranches}


def record_review(state: LoanState, context: StepContext, **_: Any) -> dict:
    decision: ReviewDecision = context.validated_input
    return {"approved": decision.approved, "reviewer": decision.reviewer}


def transfer_tranche(state: LoanState, context: StepContext, tranche: Tranche, **_: Any) -> dict:
    print(f"  transfer tranche {tranche.number}: {tranche.amount:.2f}")
    return {"transferred": [*state.transferred, tranche.number]}


def reverse_transfer(state: LoanState, context: StepContext) -> dict:
    number = context.loop_item["number"]
    print(f"  reverse tranche {number}")
    return {"transferred": [n for n in state.transferred if n != number]}


def register_lien(state: LoanState, context: StepContext, **_: Any) -> dict:
    print("  register lien")
    return {"lien_id": f"LIEN-{context.workflow_id[:8]}"}


def release_lien(state: LoanState, context: StepContext) -> dict:
    print(f"  release lien {state.lien_id}")
    return {"lien_id": None}


def notify_borrower(state: LoanState, context: StepContext, **_: Any) -> dict:
    if state.notify_fails:
        raise ConnectionError("mail server unavailable")
    return {"outcome": "approved"}


def decline(state: LoanState, context: StepContext, **_: Any) -> dict:
    return {"outcome": "declined"}


def close(state: LoanState, context: StepContext, **_: Any) -> dict:
    return {}
