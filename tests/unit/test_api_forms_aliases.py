"""The names other Ruvon material uses (SPEC §1) import from the documented paths as aliases:
the same class, not a copy or a subclass."""

from __future__ import annotations

import importlib

import pytest

from engine_support import definition, st
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.observability.noop import NoopObserver
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

ALIASES = [
    ("ruvon.implementations.persistence.memory", "MemoryPersistenceProvider", "memory store"),
    ("ruvon.implementations.persistence.memory", "InMemoryPersistence", "memory store"),
    ("ruvon.implementations.execution.sync", "SyncExecutionProvider", "sync executor"),
    ("ruvon.implementations.observability.noop", "NoopWorkflowObserver", "noop observer"),
]
CANONICAL = {
    "memory store": InMemoryPersistenceProvider,
    "sync executor": SyncExecutor,
    "noop observer": NoopObserver,
}


@pytest.mark.parametrize(("module", "name", "what"), ALIASES)
def test_alias__is_the_same_object_at_the_documented_path(
    module: str, name: str, what: str
) -> None:
    alias = getattr(importlib.import_module(module), name)

    assert alias is CANONICAL[what]


async def test_alias__a_workflow_runs_on_the_aliased_providers() -> None:
    from ruvon.implementations.execution.sync import SyncExecutionProvider
    from ruvon.implementations.observability.noop import NoopWorkflowObserver
    from ruvon.implementations.persistence.memory import (
        InMemoryPersistence,
        MemoryPersistenceProvider,
    )

    store = MemoryPersistenceProvider()
    b = WorkflowBuilder(workflow_registry={"T": definition(st("A"), st("B"))})
    wf = await b.create_workflow(
        "T",
        {},
        persistence_provider=store,
        execution_provider=SyncExecutionProvider(),
        workflow_observer=NoopWorkflowObserver(),
    )

    await wf.next_step()

    assert wf.status == "COMPLETED"
    assert isinstance(store, InMemoryPersistence)
    assert (await store.load_workflow(wf.id)).status == "COMPLETED"
