"""WorkflowBuilder: creating, idempotency, bad initial data, loading pinned to the snapshot."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from engine_support import builder, definition, st
from ruvon.builder import WorkflowBuilder
from ruvon.errors import UnknownWorkflowTypeError, WorkflowNotFoundError, WorkflowValidationError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import WorkflowStatus
from ruvon.providers.observer import EventKind


async def test_create_workflow_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a store and without $RUVON_DATABASE_URL, workflows go to the SQLite file
    ``ruvon.db`` in the working directory: the store ``ruvon list`` reads by default."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUVON_DATABASE_URL", raising=False)
    wf = await WorkflowBuilder(workflow_registry={"T": definition(st("A"))}).create_workflow("T")
    assert wf.status == "ACTIVE" and wf.current_step == 0 and wf.current_step_name == "A"
    assert len(wf.id) == 36 and wf.workflow_version == "1"
    assert isinstance(wf.persistence, SQLitePersistenceProvider)
    assert wf.persistence.path == "ruvon.db" and (tmp_path / "ruvon.db").is_file()
    assert type(wf.executor).__name__ == "SyncExecutor"
    assert type(wf.observer).__name__ == "NoopObserver"
    assert wf.created_at.tzinfo is not None
    await wf.persistence.close()
    reopened = SQLitePersistenceProvider(tmp_path / "ruvon.db")
    assert (await reopened.load_workflow(wf.id)).workflow_type == "T"
    await reopened.close()


@pytest.mark.parametrize("variable", ["RUVON_DATABASE_URL", "RUVON_DB_URL"])
async def test_the_default_store_follows_ruvon_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """``RUVON_DB_URL`` is the name the Ruvon docs give it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUVON_DATABASE_URL", raising=False)
    monkeypatch.setenv(variable, "memory://")
    wf = await WorkflowBuilder(workflow_registry={"T": definition(st("A"))}).create_workflow("T")
    assert isinstance(wf.persistence, InMemoryPersistenceProvider)
    assert not (tmp_path / "ruvon.db").exists()


async def test_bad_initial_data_names_fields_and_persists_nothing() -> None:
    store = InMemoryPersistenceProvider()
    b = builder(st("A"), persistence_provider=store)
    with pytest.raises(WorkflowValidationError, match=r"'T'.*amount") as info:
        await b.create_workflow("T", {"amount": -1, "n": "not a number"})
    assert {e["loc"][0] for e in info.value.errors} == {"amount", "n"}
    assert await store.list_workflows() == []


async def test_unknown_workflow_type() -> None:
    with pytest.raises(UnknownWorkflowTypeError, match="known: T"):
        await builder(st("A")).create_workflow("Nope")


async def test_idempotency_key_returns_the_existing_workflow_untouched() -> None:
    b = builder(st("A", automate_next=False), st("B"))
    first = await b.create_workflow("T", {"n": 5}, idempotency_key="order-1")
    await first.next_step()
    again = await b.create_workflow("T", {"n": 99}, idempotency_key="order-1")
    assert again.id == first.id
    assert again.state.n == 6 and again.current_step_name == "B"
    assert len(await b.persistence_provider.list_workflows()) == 1  # type: ignore[union-attr]


async def test_load_workflow_is_pinned_to_its_definition_snapshot() -> None:
    store = InMemoryPersistenceProvider()
    old = WorkflowBuilder(
        workflow_registry={"T": definition(st("A", automate_next=False), st("B"))},
        persistence_provider=store,
    )
    wf = await old.create_workflow("T")
    await wf.next_step()
    # the YAML changes: a new step appears; the running instance must not see it
    new = WorkflowBuilder(
        workflow_registry={"T": definition(st("A"), st("X"), st("B"), version="2")},
        persistence_provider=store,
    )
    loaded = await new.load_workflow(wf.id)
    assert loaded.workflow_version == "1"
    assert [s.name for s in loaded.definition.steps] == ["A", "B"]
    await loaded.next_step()
    assert loaded.status is WorkflowStatus.COMPLETED and loaded.state.log == ["A", "B"]


async def test_load_unknown_id() -> None:
    with pytest.raises(WorkflowNotFoundError, match="nope"):
        await builder(st("A")).load_workflow("nope")


async def test_owner_metadata_and_explicit_version_are_kept() -> None:
    b = WorkflowBuilder(
        workflow_registry={"T": definition(st("A"))},
        persistence_provider=InMemoryPersistenceProvider(),
    )
    wf = await b.create_workflow("T", owner_id="team-a", metadata={"k": 1}, workflow_version="1")
    loaded = await b.load_workflow(wf.id)
    assert (loaded.owner_id, loaded.metadata) == ("team-a", {"k": 1})


def test_public_import_paths_and_aliases() -> None:
    import ruvon
    from ruvon.implementations.execution.sync import SyncExecutionProvider, SyncExecutor
    from ruvon.implementations.observability.noop import NoopObserver, NoopWorkflowObserver
    from ruvon.implementations.persistence.memory import (
        InMemoryPersistence,
        MemoryPersistenceProvider,
    )
    from ruvon.models import StepContext, WorkflowStatus
    from ruvon.workflow import Workflow

    assert ruvon.WorkflowBuilder is WorkflowBuilder and ruvon.Workflow is Workflow
    assert ruvon.StepContext is StepContext and ruvon.WorkflowStatus is WorkflowStatus
    assert MemoryPersistenceProvider is InMemoryPersistence is InMemoryPersistenceProvider
    assert SyncExecutionProvider is SyncExecutor and NoopWorkflowObserver is NoopObserver


def test_providers_satisfy_their_protocols() -> None:
    from ruvon.implementations.execution.sync import SyncExecutor
    from ruvon.implementations.observability.logging import LoggingObserver
    from ruvon.implementations.observability.noop import NoopObserver
    from ruvon.providers import ExecutionProvider, PersistenceProvider, WorkflowObserver

    assert isinstance(InMemoryPersistenceProvider(), PersistenceProvider)
    assert isinstance(SyncExecutor(), ExecutionProvider)
    assert isinstance(LoggingObserver(), WorkflowObserver)
    assert isinstance(NoopObserver(), WorkflowObserver)


async def test_logging_observer_writes_through_logging(caplog: pytest.LogCaptureFixture) -> None:
    from ruvon.implementations.observability.logging import LoggingObserver

    b = builder(st("A"), st("B"), saga=True, workflow_observer=LoggingObserver())
    with caplog.at_level("DEBUG", logger="ruvon"):
        wf = await b.create_workflow("T", {"fail_at": ["B"]})
        await wf.next_step()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "step_failed" in errors[0].getMessage()
    assert any("compensation_completed" in r.getMessage() for r in caplog.records)


def test_latest_version_follows_pep_440() -> None:
    defs = {
        f"v{i}": definition(st("A"), version=v)
        for i, v in enumerate(["1.0.0rc1", "1.0.0", "1.9", "1.10"])
    }
    from ruvon.definition import DefinitionRegistry, load_definition

    reg = DefinitionRegistry()
    for name, data in defs.items():
        reg.add(load_definition(data, source=name))
    assert reg.get("T").workflow_version == "1.10"
    assert reg.get("T", "1.0.0rc1").workflow_version == "1.0.0rc1"


def test_workflow_ids_are_version_4_uuids() -> None:
    import uuid

    from ruvon.builder import new_workflow_id

    ids = {new_workflow_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_memory_store_copies_every_journal_field() -> None:
    from ruvon.implementations.persistence.memory import _clone_entry
    from ruvon.models import CompensationRecord, CompensationStatus, WorkflowError

    entry = CompensationRecord(
        sequence=3,
        forward_seq=7,
        step_name="s",
        step_index=2,
        function="m.f",
        status=CompensationStatus.FAILED,
        started_at=1.0,
        ended_at=2.0,
        attempts=4,
        error=WorkflowError("E", "m", "s"),
        detail="d",
        decided_by="ann",
        result={"k": 1},
        scope="s/iter:2/b",
    )
    copied = _clone_entry(entry)
    assert copied == entry and copied is not entry


def test_memory_store_copies_every_row_field() -> None:
    from dataclasses import fields

    from ruvon.implementations.persistence.memory import _clone
    from ruvon.models import WorkflowError
    from ruvon.providers.persistence import WorkflowRecord

    row = WorkflowRecord(
        id="i",
        workflow_type="T",
        workflow_version="2",
        status=WorkflowStatus.PAUSED,
        state=b"{}",
        current_step=3,
        saga_mode=True,
        definition={"d": [1]},
        idempotency_key="k",
        parent_id="p",
        owner_id="o",
        metadata={"m": {"n": 1}},
        error=WorkflowError("E", "m"),
        created_at=1.0,
        updated_at=2.0,
        version=5,
        lease_owner="me",
        lease_expires_at=9.0,
        frames=[{"scope": "Items", "iteration": 2}],
    )
    copied = _clone(row)
    assert copied == row
    assert copied.metadata is not row.metadata and copied.definition is not row.definition
    assert copied.frames[0] is not row.frames[0]
    assert len(fields(WorkflowRecord)) == 20  # a new field must be added to _clone too


async def test_logging_observer_builds_no_record_nobody_would_see() -> None:
    import logging

    from ruvon.implementations.observability.logging import LoggingObserver

    logger = logging.getLogger("ruvon.test.silent")
    logger.setLevel(logging.INFO)
    observer = LoggingObserver(logger)
    made: list[logging.LogRecord] = []
    factory = logging.getLogRecordFactory()

    def counting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        made.append(record)
        return record

    logging.setLogRecordFactory(counting)
    try:
        root = logging.getLogger()
        saved = root.handlers[:]
        root.handlers = []  # only the package's NullHandler is left
        try:
            assert not observer.wants(EventKind.STEP_FAILED)
            b = builder(st("A"), st("B"), saga=True, workflow_observer=observer)
            wf = await b.create_workflow("T", {"fail_at": ["B"]})
            await wf.next_step()
            assert wf.status.value == "FAILED_ROLLED_BACK"
            assert made == []
            # outside Ruvon's loggers (no NullHandler) logging's last resort still writes
            # warnings and errors to stderr: those events are still wanted
            outsider = LoggingObserver(logging.getLogger("not_ruvon.test"))
            assert outsider.wants(EventKind.STEP_FAILED)
            assert not outsider.wants(EventKind.WORKFLOW_COMPLETED)  # INFO: below last resort
            handler = logging.StreamHandler(io.StringIO())
            logger.addHandler(handler)
            try:
                assert observer.wants(EventKind.STEP_FAILED)
                assert not observer.wants(EventKind.STEP_STARTED)  # DEBUG: below the level
            finally:
                logger.removeHandler(handler)
        finally:
            root.handlers = saved
    finally:
        logging.setLogRecordFactory(factory)


@pytest.mark.parametrize("value", [0, -1, "30", True, float("nan")])
def test_a_lease_that_is_not_a_positive_number_is_refused_at_once(value: object) -> None:
    with pytest.raises(ValueError, match="lease_seconds must be a positive number"):
        WorkflowBuilder(lease_seconds=value)  # type: ignore[arg-type]
