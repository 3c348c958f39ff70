"""``StepContext`` built by hand, as the original Ruvon testing guide does in users' unit tests."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from engine_support import builder, st
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import StepContext


class OrderState(BaseModel):
    order_id: str
    amount: float
    status: str = "new"


def validate_order(state: OrderState, context: StepContext) -> dict[str, Any]:
    """A step written the way the testing guide's example is."""
    if state.amount <= 0:
        raise ValueError("amount must be positive")
    state.status = "validated"
    return {"validated": True, "by": context.step_name, "key": context.idempotency_key}


def test_step_context__guide_form_builds_with_defaults() -> None:
    context = StepContext(
        workflow_id="test-workflow-id", step_name="Validate_Order", previous_step_result=None
    )

    assert (context.workflow_id, context.step_name) == ("test-workflow-id", "Validate_Order")
    assert (context.workflow_type, context.step_index, context.attempt) == ("", 0, 1)
    assert context.persistence is None
    assert context.validated_input is None and context.previous_step_result is None
    assert (context.loop_item, context.loop_index) == (None, None)
    assert (context.forward_result, context.failure, context.is_compensation) == (None, None, False)


def test_step_context__runs_a_step_under_test() -> None:
    state = OrderState(order_id="ORD-001", amount=150.0)
    context = StepContext(workflow_id="test-workflow-id", step_name="Validate_Order")

    result = validate_order(state, context)

    assert result == {
        "validated": True,
        "by": "Validate_Order",
        "key": "test-workflow-id:Validate_Order",
    }
    assert state.status == "validated"
    with pytest.raises(ValueError, match="amount must be positive"):
        validate_order(OrderState(order_id="ORD-002", amount=-10.0), context)


def test_step_context__given_fields_are_kept() -> None:
    store = InMemoryPersistenceProvider()
    context = StepContext(
        workflow_id="w",
        step_name="s",
        workflow_type="T",
        step_index=3,
        attempt=2,
        idempotency_key="mine",
        persistence=store,
        previous_step_result={"a": 1},
    )

    assert (context.workflow_type, context.step_index, context.attempt) == ("T", 3, 2)
    assert context.idempotency_key == "mine"
    assert context.persistence is store
    assert context.previous_step_result == {"a": 1}


def test_step_context__derived_key_escapes_the_step_name_like_the_engine() -> None:
    assert StepContext(workflow_id="w", step_name="a/b").idempotency_key == "w:a%2Fb"


def test_step_context__is_built_with_keywords_only() -> None:
    with pytest.raises(TypeError):
        StepContext("w", "s")  # type: ignore[misc]
    with pytest.raises(TypeError, match="step_name"):
        StepContext(workflow_id="w")  # type: ignore[call-arg]


seen: list[StepContext] = []


def remember_context(state: Any, context: StepContext) -> dict[str, Any]:
    seen.append(context)
    return {}


async def test_step_context__derived_key_is_the_key_the_engine_gives_the_step() -> None:
    seen.clear()
    wf = await builder(
        st("Charge_Payment", "test_api_forms_context.remember_context", comp=None)
    ).create_workflow("T", {})

    await wf.next_step()

    assert len(seen) == 1
    by_hand = StepContext(workflow_id=wf.id, step_name="Charge_Payment")
    assert seen[0].idempotency_key == by_hand.idempotency_key
