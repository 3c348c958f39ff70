"""``WorkflowBuilder``: finds definitions, creates workflows and loads persisted ones."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ruvon.definition import (
    DefinitionRegistry,
    WorkflowDefinition,
    definition_from_snapshot,
    discover,
)
from ruvon.errors import (
    IdempotencyConflictError,
    PersistenceError,
    StepResultError,
    WorkflowValidationError,
    describe_validation,
)
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.expression import ExpressionEvaluator
from ruvon.providers.observer import EventKind, WorkflowObserver
from ruvon.providers.persistence import PersistenceProvider, WorkflowRecord
from ruvon.providers.secrets import SecretsProvider
from ruvon.providers.templating import TemplateEngine
from ruvon.runtime.leases import new_runner_id
from ruvon.runtime.merge import dump_state
from ruvon.status import WorkflowStatus
from ruvon.workflow import DEFAULT_LEASE_SECONDS, Workflow

DEFAULT_DATABASE_URL = "sqlite:///ruvon.db"
"""The store a builder (and every ``ruvon`` command) uses when none is given and
``$RUVON_DATABASE_URL`` is not set: the SQLite file ``ruvon.db`` in the working directory."""


def default_database_url() -> str:
    """``$RUVON_DATABASE_URL`` (or ``$RUVON_DB_URL``, the Ruvon docs' name), else
    :data:`DEFAULT_DATABASE_URL`."""
    return (
        os.environ.get("RUVON_DATABASE_URL")
        or os.environ.get("RUVON_DB_URL")
        or DEFAULT_DATABASE_URL
    )


def _default_store() -> PersistenceProvider:
    from ruvon.implementations.persistence import store_from_url

    return store_from_url(default_database_url())


@functools.cache  # imported once, not on every workflow
def _default_evaluator_cls() -> type[ExpressionEvaluator]:
    from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator

    return SimpleExpressionEvaluator


@functools.cache
def _default_template_cls() -> type[TemplateEngine]:
    from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine

    return Jinja2TemplateEngine


_ENTROPY: list[bytes] = []  # random bytes read ahead; emptied in a forked child
os.register_at_fork(after_in_child=_ENTROPY.clear)


def new_workflow_id() -> str:
    """A random (version 4) UUID string; built directly from random bytes read 4 KiB at a time,
    several times faster than ``str(uuid.uuid4())``, which costs a system call each."""
    if not _ENTROPY:
        pool = os.urandom(4096)
        _ENTROPY.extend(pool[i : i + 16] for i in range(4080, -16, -16))
    raw = _ENTROPY.pop()
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[raw[8] & 3]}{h[17:20]}-{h[20:]}"


class WorkflowBuilder:
    """Entry point of the library. Every argument is optional.

    Definitions are discovered on first use (see :mod:`ruvon.definition.registry`) and all of
    them are validated then, functions imported and signatures checked. Without a
    ``persistence_provider`` (here or in ``create_workflow``) workflows go to the store at
    ``$RUVON_DATABASE_URL``, else to the SQLite file ``ruvon.db`` in the working directory:
    the store every ``ruvon`` command reads by default. ``config_dir`` may also
    name a registry file (``WorkflowBuilder("config/workflow_registry.yaml")``), and
    ``observer=`` is accepted for ``workflow_observer=``, as other Ruvon material writes them.
    """

    def __init__(
        self,
        config_dir: str | os.PathLike[str] | None = None,
        workflow_registry: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        expression_evaluator_cls: type[ExpressionEvaluator] | None = None,
        template_engine_cls: type[TemplateEngine] | None = None,
        persistence_provider: PersistenceProvider | None = None,
        execution_provider: ExecutionProvider | None = None,
        workflow_observer: WorkflowObserver | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        observer: WorkflowObserver | None = None,
        secrets_provider: SecretsProvider | None = None,
    ) -> None:
        if observer is not None and workflow_observer not in (None, observer):
            raise TypeError("WorkflowBuilder: give workflow_observer or observer, not both")
        workflow_observer = workflow_observer or observer
        if (
            isinstance(lease_seconds, bool)
            or not isinstance(lease_seconds, int | float)
            or not lease_seconds > 0
        ):
            raise ValueError(f"lease_seconds must be a positive number, not {lease_seconds!r}")
        self.lease_seconds = lease_seconds
        self.config_dir = config_dir
        self.workflow_registry = workflow_registry
        self.expression_evaluator_cls = expression_evaluator_cls
        self.template_engine_cls = template_engine_cls
        self.persistence_provider = persistence_provider
        self.execution_provider = execution_provider
        self.workflow_observer = workflow_observer
        # where ``{{ secrets.NAME }}`` comes from (default: environment variables)
        self.secrets_provider = secrets_provider
        self._registry: DefinitionRegistry | None = None
        self._instances: dict[type, Any] = {}

    # --- definitions ----------------------------------------------------------------------------

    @property
    def registry(self) -> DefinitionRegistry:
        """Every definition found, validated on first access."""
        if self._registry is None:
            self._registry = discover(self.config_dir, self.workflow_registry)
        return self._registry

    def get_definition(self, workflow_type: str, version: str | None = None) -> WorkflowDefinition:
        return self.registry.get(workflow_type, version)

    # --- providers ------------------------------------------------------------------------------

    def _store(self, given: PersistenceProvider | None) -> PersistenceProvider:
        if given is not None:
            return given
        if self.persistence_provider is None:
            self.persistence_provider = _default_store()
        return self.persistence_provider

    def _providers(
        self,
        persistence: PersistenceProvider | None,
        executor: ExecutionProvider | None,
        observer: WorkflowObserver | None,
        builder: WorkflowBuilder | None,
        evaluator_cls: type[ExpressionEvaluator] | None,
        template_cls: type[TemplateEngine] | None,
    ) -> dict[str, Any]:
        """What a workflow runs with: the given providers, else the builder's, else defaults."""
        if executor is None and self.execution_provider is None:
            from ruvon.implementations.execution.sync import SyncExecutor

            self.execution_provider = SyncExecutor()
        if observer is None and self.workflow_observer is None:
            from ruvon.implementations.observability.noop import NoopObserver

            self.workflow_observer = NoopObserver()
        return {
            "persistence": self._store(persistence),
            "executor": executor or self.execution_provider,
            "observer": observer or self.workflow_observer,
            "builder": builder or self,
            "evaluator_cls": evaluator_cls,
            "template_cls": template_cls,
        }

    def _instance(self, cls: type[Any]) -> Any:
        instance = self._instances.get(cls)
        if instance is None:
            instance = self._instances[cls] = cls()
        return instance

    def _secrets(self) -> SecretsProvider:
        if self.secrets_provider is None:
            from ruvon.implementations.secrets.env import EnvironmentSecretsProvider

            self.secrets_provider = EnvironmentSecretsProvider()
        return self.secrets_provider

    def _bind(
        self,
        definition: WorkflowDefinition,
        record: WorkflowRecord,
        state: Any,
        providers: dict[str, Any],
        **history: Any,
    ) -> Workflow:
        return Workflow(
            id=record.id,
            definition=definition,
            state=state,
            status=record.status,
            persistence=providers["persistence"],
            executor=providers["executor"],
            observer=providers["observer"],
            builder=providers["builder"],
            expression_evaluator=self._instance(
                providers["evaluator_cls"]
                or self.expression_evaluator_cls
                or _default_evaluator_cls()
            ),
            template_engine=self._instance(
                providers["template_cls"] or self.template_engine_cls or _default_template_cls()
            ),
            current_step=record.current_step,
            saga_mode=record.saga_mode,
            error=record.error,
            created_at=record.created_at,
            updated_at=record.updated_at,
            version=record.version,
            idempotency_key=record.idempotency_key,
            owner_id=record.owner_id,
            parent_id=record.parent_id,
            metadata=record.metadata,
            lease_seconds=self.lease_seconds,
            secrets_provider=self._secrets(),
            committed_state=record.state,
            cancel_requested=record.cancel_requested,
            frames=record.frames,
            **history,
        )

    # --- workflows ------------------------------------------------------------------------------

    async def create_workflow(
        self,
        workflow_type: str,
        initial_data: Mapping[str, Any] | None = None,
        *,
        persistence_provider: PersistenceProvider | None = None,
        execution_provider: ExecutionProvider | None = None,
        workflow_observer: WorkflowObserver | None = None,
        workflow_builder: WorkflowBuilder | None = None,
        expression_evaluator_cls: type[ExpressionEvaluator] | None = None,
        template_engine_cls: type[TemplateEngine] | None = None,
        idempotency_key: str | None = None,
        workflow_version: str | None = None,
        owner_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        parent_id: str | None = None,
    ) -> Workflow:
        """Validate ``initial_data``, persist a new ``ACTIVE`` workflow and return it.

        Bad data raises :class:`WorkflowValidationError` and persists nothing. With an
        ``idempotency_key`` that already exists, the existing workflow is returned untouched.
        """
        definition = self.registry.get(workflow_type, workflow_version)
        try:
            state = definition.state_model.__pydantic_validator__.validate_python(
                initial_data or {}
            )
            # the state starts as the store will give it back (see ruvon.runtime.merge)
            state_json = dump_state(state, "initial data")
            state = definition.state_model.__pydantic_validator__.validate_json(state_json)
        except ValidationError as exc:
            raise WorkflowValidationError.from_pydantic(
                f"initial data for workflow '{workflow_type}'", definition.state_model, exc
            ) from exc
        except StepResultError as exc:
            raise WorkflowValidationError(
                f"initial data for workflow '{workflow_type}' can not be stored: {exc}"
            ) from exc
        providers = self._providers(
            persistence_provider,
            execution_provider,
            workflow_observer,
            workflow_builder,
            expression_evaluator_cls,
            template_engine_cls,
        )
        now = time.time()
        runner_id = new_runner_id()
        record = WorkflowRecord(
            id=new_workflow_id(),
            workflow_type=definition.workflow_type,
            workflow_version=definition.workflow_version,
            status=WorkflowStatus.ACTIVE,
            state=state_json,
            current_step=0,
            saga_mode=definition.spec.saga_mode,
            definition=definition.snapshot,
            idempotency_key=idempotency_key,
            parent_id=parent_id,
            owner_id=owner_id,
            metadata=dict(metadata or {}),
            created_at=now,
            updated_at=now,
            lease_owner=runner_id,
            lease_expires_at=now + self.lease_seconds,
        )
        stored = await providers["persistence"].create_workflow(record)
        if stored.id != record.id:  # idempotency key already used: hand back that workflow
            if stored.workflow_type != record.workflow_type:
                raise IdempotencyConflictError(
                    f"idempotency key {idempotency_key!r} belongs to workflow '{stored.id}' of "
                    f"type '{stored.workflow_type}', not '{record.workflow_type}'",
                    idempotency_key=idempotency_key,
                    workflow_id=stored.id,
                )
            return await self._hydrate(stored, providers)
        wf = self._bind(
            definition,
            record,
            state,
            providers,
            runner_id=runner_id,
            lease_expires_at=record.lease_expires_at,
        )
        if wf.observer.wants(EventKind.WORKFLOW_STARTED):
            await wf.notify(EventKind.WORKFLOW_STARTED)
        return wf

    async def load_workflow(
        self,
        workflow_id: str,
        *,
        persistence_provider: PersistenceProvider | None = None,
        execution_provider: ExecutionProvider | None = None,
        workflow_observer: WorkflowObserver | None = None,
        workflow_builder: WorkflowBuilder | None = None,
        expression_evaluator_cls: type[ExpressionEvaluator] | None = None,
        template_engine_cls: type[TemplateEngine] | None = None,
    ) -> Workflow:
        """Rehydrate a persisted workflow, pinned to the definition snapshot it started with."""
        providers = self._providers(
            persistence_provider,
            execution_provider,
            workflow_observer,
            workflow_builder,
            expression_evaluator_cls,
            template_engine_cls,
        )
        record = await providers["persistence"].load_workflow(workflow_id)
        return await self._hydrate(record, providers)

    async def _hydrate(self, record: WorkflowRecord, providers: dict[str, Any]) -> Workflow:
        definition = definition_from_snapshot(
            record.definition, source=f"definition snapshot of workflow '{record.id}'"
        )
        try:
            state = definition.state_model.model_validate_json(record.state)
        except ValidationError as exc:
            raise PersistenceError(
                f"workflow '{record.id}': stored state does not fit "
                f"{definition.state_model.__name__}: {describe_validation(exc)}"
            ) from exc
        store: PersistenceProvider = providers["persistence"]
        history = await store.step_history(record.id)
        journal = await store.compensation_journal(record.id)
        return self._bind(definition, record, state, providers, history=history, journal=journal)

    async def recover(
        self,
        persistence_provider: PersistenceProvider | None = None,
        *,
        limit: int = 100,
        concurrency: int | None = None,
        include_failed: bool = False,
    ) -> list[str]:
        """Continue workflows whose runner died (expired lease); return the ids continued.

        Up to ``concurrency`` workflows (default 10) run at once; ``include_failed`` also
        retries the ones an earlier recovery marked failed (see :mod:`ruvon.recovery`).
        """
        from ruvon.recovery import DEFAULT_CONCURRENCY, recover

        return await recover(
            self,
            self._store(persistence_provider),
            limit=limit,
            concurrency=DEFAULT_CONCURRENCY if concurrency is None else concurrency,
            include_failed=include_failed,
        )
