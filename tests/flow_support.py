"""Inline definitions for the control-flow tests: steps over ``flow_steps.Flow``."""

from __future__ import annotations

from typing import Any

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider


def step(name: str, fn: str | None = "flow_steps.mark", **keys: Any) -> dict[str, Any]:
    """One step mapping, automated (one ``next_step()`` runs the chain); ``fn=None``: none."""
    out: dict[str, Any] = {"name": name, "automate_next": True, **keys}
    if fn is not None:
        out["function"] = fn
    return out


def registry(*steps: dict[str, Any], saga: bool = False) -> dict[str, Any]:
    return {
        "F": {
            "workflow_type": "F",
            "initial_state_model": "flow_steps.Flow",
            "saga_mode": saga,
            "steps": list(steps),
        }
    }


def flow(*steps: dict[str, Any], saga: bool = False, store: Any = None) -> WorkflowBuilder:
    """A builder of the workflow type ``F`` made of ``steps``, on ``store`` (default: a new
    in-memory one)."""
    return WorkflowBuilder(
        workflow_registry=registry(*steps, saga=saga),
        persistence_provider=store or InMemoryPersistenceProvider(),
    )
