"""Small builders for inline workflow definitions used by the engine tests."""

from __future__ import annotations

from typing import Any

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider


def st(
    name: str, fn: str = "engine_steps.step", comp: str | None = "engine_steps.undo", **keys: Any
) -> dict[str, Any]:
    """One step mapping; automated by default so one ``next_step()`` runs the chain."""
    step = {"name": name, "function": fn, "automate_next": True, **keys}
    if comp is not None:
        step["compensate_function"] = comp
    return step


def definition(
    *steps: dict[str, Any], saga: bool = False, wf_type: str = "T", version: str = "1"
) -> dict[str, Any]:
    return {
        "workflow_type": wf_type,
        "workflow_version": version,
        "initial_state_model": "engine_steps.S",
        "saga_mode": saga,
        "steps": list(steps),
    }


def builder(*steps: dict[str, Any], saga: bool = False, **kwargs: Any) -> WorkflowBuilder:
    kwargs.setdefault("persistence_provider", InMemoryPersistenceProvider())
    return WorkflowBuilder(workflow_registry={"T": definition(*steps, saga=saga)}, **kwargs)
