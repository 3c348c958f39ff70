"""Step and compensation functions of the flowapp workflows.

Each passes ``fn:<name>:before``, records its side effect in the ledger (with the context's
idempotency key, loop item and index), passes ``fn:<name>:after`` and returns a result that
depends only on the state and the call, so a re-run returns what the first run would have.
``finish`` raises instead when the state's ``fail_after`` is set. ``decide`` routes by the
environment variable ``CRASHAPP_ROUTE`` of the process that runs it: a decision made again in
another process would choose differently, which shows which process's decision counted.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from crashapp.chaos import checkpoint

from flowapp import ledger
from flowapp.models import Approval, FlowState
from ruvon.models import StepContext

ROUTE_ENV = "CRASHAPP_ROUTE"


class AfterFailed(Exception):
    """The simulated failure of the step after the loop."""


def _effect(function: str, context: StepContext) -> str:
    checkpoint(f"fn:{function}:before", context.workflow_id)
    ledger.record(
        context.workflow_id,
        function,
        context.idempotency_key,
        context.attempt,
        context.loop_item,
        context.loop_index,
    )
    checkpoint(f"fn:{function}:after", context.workflow_id)
    return hashlib.sha256(context.idempotency_key.encode()).hexdigest()[:8].upper()


def prepare(state: FlowState, context: StepContext) -> dict[str, Any]:
    _effect("prepare", context)
    return {"prepared": True}


def unprepare(state: FlowState, context: StepContext) -> dict[str, Any]:
    _effect("unprepare", context)
    return {"prepared": False}


def reserve(state: FlowState, context: StepContext, item: str = "") -> dict[str, Any]:
    _effect("reserve", context)
    return {"reserved": [*state.reserved, item]}


def release(state: FlowState, context: StepContext) -> dict[str, Any]:
    _effect("release", context)
    return {"reserved": [r for r in state.reserved if r != context.loop_item]}


def charge(state: FlowState, context: StepContext, item: str = "") -> dict[str, Any]:
    ref = _effect("charge", context)
    return {"charged": [*state.charged, item], "charge_ref": f"CH-{ref}"}


def refund(state: FlowState, context: StepContext) -> dict[str, Any]:
    _effect("refund", context)
    return {"charged": [c for c in state.charged if c != context.loop_item]}


def finish(state: FlowState, context: StepContext) -> dict[str, Any]:
    if state.fail_after:
        checkpoint("fn:finish:before", context.workflow_id)
        raise AfterFailed("the step after the loop failed")
    _effect("finish", context)
    return {"done": True}


def approve(state: FlowState, context: StepContext, **user_input: Any) -> dict[str, Any]:
    given = context.validated_input
    assert isinstance(given, Approval), f"no validated input: {given!r}"
    _effect("approve", context)
    return {
        "approved": given.approved,
        "reviewer": given.reviewer,
        "approvals": [*state.approvals, given.reviewer],
    }


def decide(state: FlowState, context: StepContext) -> dict[str, Any]:
    _effect("decide", context)
    return {"route": os.environ.get(ROUTE_ENV, "standard")}


def ship_standard(state: FlowState, context: StepContext) -> dict[str, Any]:
    _effect("ship_standard", context)
    return {"branch": "standard"}


def ship_express(state: FlowState, context: StepContext) -> dict[str, Any]:
    _effect("ship_express", context)
    return {"branch": "express"}
