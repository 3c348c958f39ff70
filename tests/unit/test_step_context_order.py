"""The engine builds a step's context positionally (it is made for every attempt): the field
order it relies on is pinned here, so that a field added in the middle fails a test instead
of shifting values silently."""

from __future__ import annotations

from dataclasses import fields

from ruvon.models import StepContext


def test_step_context_fields_are_in_the_order_the_engine_passes_them() -> None:
    assert [f.name for f in fields(StepContext)] == [
        "workflow_id",
        "workflow_type",
        "step_name",
        "step_index",
        "attempt",
        "idempotency_key",
        "persistence",
        "validated_input",
        "previous_step_result",
        "loop_item",
        "loop_index",
        "forward_result",
        "failure",
        "is_compensation",
        "scope",
    ]
