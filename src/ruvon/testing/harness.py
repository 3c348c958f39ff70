"""``TestHarness``: run workflows in users' own tests, in memory, with mocks and saga checks.

The harness drives the real engine: a ``WorkflowBuilder`` finds the definitions (by default
exactly as ``WorkflowBuilder()`` does: ``config/workflow_registry.yaml`` or the YAML files in
``config/``), workflows run on an in-memory store with the ``SyncExecutor``, and every step is
recorded, retried and compensated as in production. What it adds is for tests: workflows are
reached by id, a failing step's exception is raised from :meth:`TestHarness.next_step` (once
the workflow has recorded the failure and finished any unwind), steps and compensations can be
mocked, and :meth:`TestHarness.check_saga` fails a workflow after each compensatable step.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from ruvon.builder import WorkflowBuilder
from ruvon.definition import WorkflowDefinition
from ruvon.errors import (
    DefinitionError,
    IllegalOperationError,
    StepError,
    StepResultError,
)
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import CompensationRecord, WorkflowError
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.observer import WorkflowObserver
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime.saga import CANCELLED_ERROR
from ruvon.status import WorkflowStatus
from ruvon.testing.capture import FailureCapture
from ruvon.testing.driving import drive
from ruvon.testing.mocks import Raises, StepMock, all_steps, with_mocks
from ruvon.testing.report import SagaReport
from ruvon.testing.saga_check import check_saga
from ruvon.workflow import Workflow

Inputs = Mapping[str, Mapping[str, Any]]


class TestHarness:
    """Start, advance, inspect and mock workflows in tests.

    With no arguments, definitions are discovered as ``WorkflowBuilder()`` discovers them
    (``$RUVON_CONFIG_DIR`` or ``./config``, on first use). Or give ``workflow_registry`` (a dict
    or the path of a registry YAML), ``config_dir``, or a ready ``builder`` (its definitions are
    used, never changed). The store defaults to a new ``InMemoryPersistenceProvider`` and the
    executor to ``SyncExecutor``.

    ``raise_on_failure`` (default ``True``): :meth:`next_step` raises the exception of a step
    that failed in it, after the workflow recorded the failure (status ``FAILED``, or the unwind
    done in saga mode). ``False`` keeps the engine's behaviour: the failure is only in
    ``workflow.status`` and ``workflow.error``.
    """

    __test__ = False  # a library class named Test*: not a pytest test class

    def __init__(
        self,
        *,
        workflow_registry: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        config_dir: str | os.PathLike[str] | None = None,
        builder: WorkflowBuilder | None = None,
        persistence_provider: PersistenceProvider | None = None,
        execution_provider: ExecutionProvider | None = None,
        workflow_observer: WorkflowObserver | None = None,
        raise_on_failure: bool = True,
    ) -> None:
        if builder is not None and (workflow_registry is not None or config_dir is not None):
            raise TypeError(
                "TestHarness takes a builder or where to find definitions "
                "(workflow_registry, config_dir), not both"
            )
        self.builder = builder or WorkflowBuilder(
            config_dir=config_dir, workflow_registry=workflow_registry
        )
        self.persistence: PersistenceProvider = (
            persistence_provider or InMemoryPersistenceProvider()
        )
        self.executor = FailureCapture(execution_provider or SyncExecutor())
        self.observer = workflow_observer
        self.raise_on_failure = raise_on_failure
        self._step_mocks: dict[tuple[str, str | None], StepMock] = {}
        self._compensation_mocks: dict[tuple[str, str | None], StepMock] = {}
        self._workflows: dict[str, Workflow] = {}  # the object each id is advanced through
        self._definitions: dict[str, WorkflowDefinition] = {}  # what each was started with
        self._last: Workflow | None = None

    # --- starting and advancing -----------------------------------------------------------------

    async def start_workflow(
        self, workflow_type: str, initial_data: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Workflow:
        """Create a workflow (``ACTIVE``, no step run yet) with the mocks set now; return it.

        ``kwargs`` go to ``WorkflowBuilder.create_workflow`` (``idempotency_key``,
        ``workflow_version``, ``owner_id``, ``metadata``). The object returned is the one
        :meth:`next_step` advances, so its ``status`` and ``state`` follow.
        """
        wf = await self._create(workflow_type, initial_data, kwargs)
        known = self._workflows.get(wf.id)
        if known is not None:  # an idempotency key handed back a workflow this harness has
            return known
        self._bind(wf, with_mocks(wf.definition, self._step_mocks, self._compensation_mocks))
        self._workflows[wf.id] = self._last = wf
        return wf

    async def next_step(
        self, workflow_id: str | Workflow | None = None, user_input: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Run the workflow's next step (and the ones it automates); return the last result.

        ``workflow_id`` defaults to the workflow started last. On a waiting workflow,
        ``user_input`` resumes it. See the class docstring for what a failing step raises.
        """
        wf = await self._tracked(workflow_id)
        error_before = wf.error
        self.executor.pop(wf.id)
        result = await wf.next_step(user_input)
        raised = self.executor.pop(wf.id)
        error = wf.error
        if (
            self.raise_on_failure
            and error is not None
            and error is not error_before
            and error.type != CANCELLED_ERROR
        ):
            raise _failure(wf, error, raised)
        return result

    async def run_all_steps(
        self, input_data_per_step: Inputs | None = None, *, workflow_id: str | None = None
    ) -> WorkflowStatus:
        """Advance the workflow until it finishes, fails, or waits for input it was not given.

        ``input_data_per_step`` maps a step name to its ``user_input``, used when the workflow
        reaches that step or waits for input for it (each once). A failure is not raised here:
        it is the status returned. ``workflow_id`` defaults to the workflow started last.
        """
        wf = await self._tracked(workflow_id)
        try:
            return await drive(wf, input_data_per_step)
        finally:
            self.executor.pop(wf.id)  # not raised here: not kept either

    async def load_workflow(self, workflow_id: str) -> Workflow:
        """A new object read from the store (with the mocks the workflow was started with).

        It is not the object :meth:`next_step` advances for this id until it is passed to
        :meth:`next_step`: use it to check what was persisted, or go on with it, not both.
        """
        wf = await self.builder.load_workflow(workflow_id, **self._providers())
        definition = self._definitions.get(workflow_id)
        if definition is not None:
            self._bind(wf, definition)
        return wf

    # --- what happened --------------------------------------------------------------------------

    async def compensation_journal(
        self, workflow_id: str | None = None
    ) -> list[CompensationRecord]:
        """The compensation journal as the store has it, in unwind order."""
        wf_id = workflow_id if workflow_id is not None else self._latest().id
        return await self.persistence.compensation_journal(wf_id)

    get_compensation_log = compensation_journal  # the name ruvon-sdk 0.1.5's harness used

    @property
    def workflow(self) -> Workflow:
        """The workflow started last."""
        return self._latest()

    @property
    def workflow_id(self) -> str:
        return self._latest().id

    @property
    def current_state(self) -> BaseModel:
        return self._latest().state

    @property
    def current_status(self) -> WorkflowStatus:
        return self._latest().status

    # --- mocks ----------------------------------------------------------------------------------

    def mock_step(
        self,
        name: str,
        returns: Any = None,
        raises: Raises | Sequence[Raises] = None,
        *,
        workflow_type: str | None = None,
    ) -> StepMock:
        """Replace step ``name``'s function in workflows started from now on (of every type
        that has such a step, or of ``workflow_type``, which then wins over a mock for every
        type). Returns the mock, which records its calls; a new mock for the same name and type
        replaces it. See :class:`~ruvon.testing.mocks.StepMock` for ``returns`` and ``raises``."""
        self._check_step(name, workflow_type, compensation=False)
        mock = StepMock(step_name=name, returns=returns, raises=raises, workflow_type=workflow_type)
        self._step_mocks[name, workflow_type] = mock
        return mock

    def mock_compensation(
        self,
        name: str,
        returns: Any = None,
        raises: Raises | Sequence[Raises] = None,
        *,
        workflow_type: str | None = None,
    ) -> StepMock:
        """Replace the ``compensate_function`` of step ``name``, like :meth:`mock_step`."""
        self._check_step(name, workflow_type, compensation=True)
        mock = StepMock(
            step_name=name,
            returns=returns,
            raises=raises,
            compensation=True,
            workflow_type=workflow_type,
        )
        self._compensation_mocks[name, workflow_type] = mock
        return mock

    def reset_mocks(self) -> None:
        """Drop every mock; workflows started from now on run the real functions (workflows
        already started keep theirs)."""
        self._step_mocks.clear()
        self._compensation_mocks.clear()

    # --- saga check -----------------------------------------------------------------------------

    async def check_saga(
        self,
        workflow_type: str,
        initial_data: Mapping[str, Any] | None = None,
        ignore: Collection[str] = (),
        *,
        inputs: Inputs | None = None,
        workflow_version: str | None = None,
    ) -> SagaReport:
        """Fail the workflow right after each step that has a compensation, one run each, and
        report what the unwind undid (see :mod:`ruvon.testing.saga_check`). Mocks apply.

        ``ignore`` names state fields not expected to return to their first value (a history
        of what ran); ``inputs`` is the user input per step, as in :meth:`run_all_steps`.
        Findings are in the report, never raised.
        """
        definition = with_mocks(
            self.builder.get_definition(workflow_type, workflow_version),
            self._step_mocks,
            self._compensation_mocks,
        )

        async def start(bound: WorkflowDefinition) -> Workflow:
            wf = await self._create(
                workflow_type, initial_data, {"workflow_version": definition.workflow_version}
            )
            self._bind(wf, bound)
            return wf

        report = await check_saga(definition, start, ignore=ignore, inputs=inputs)
        for run in report.runs:
            self.executor.pop(run.workflow_id)
        return report

    # --- internals ------------------------------------------------------------------------------

    def _providers(self) -> dict[str, Any]:
        return {
            "persistence_provider": self.persistence,
            "execution_provider": self.executor,
            "workflow_observer": self.observer,
        }

    async def _create(
        self, workflow_type: str, initial_data: Mapping[str, Any] | None, kwargs: dict[str, Any]
    ) -> Workflow:
        return await self.builder.create_workflow(
            workflow_type, initial_data, **self._providers(), **kwargs
        )

    def _bind(self, wf: Workflow, definition: WorkflowDefinition) -> None:
        """Run ``wf`` with ``definition``: the builder's, or a copy with mocks (same snapshot)."""
        wf.definition = definition
        self._definitions[wf.id] = definition

    def _latest(self) -> Workflow:
        if self._last is None:
            raise IllegalOperationError("no workflow started yet: call start_workflow() first")
        return self._last

    async def _tracked(self, workflow_id: str | Workflow | None) -> Workflow:
        if workflow_id is None:
            return self._latest()
        if isinstance(workflow_id, Workflow):  # advanced from now on (one loaded, say)
            self._workflows[workflow_id.id] = workflow_id
            return workflow_id
        wf = self._workflows.get(workflow_id)
        if wf is None:  # started elsewhere in this store: advanced through a loaded object
            wf = self._workflows[workflow_id] = await self.load_workflow(workflow_id)
        return wf

    def _check_step(self, name: str, workflow_type: str | None, *, compensation: bool) -> None:
        """A mock for a step no workflow has would silently never run: refuse it."""
        if workflow_type is not None:
            definitions = [self.builder.get_definition(workflow_type)]
        else:
            definitions = list(self.builder.registry)
        steps = [s for d in definitions for s in all_steps(d.steps)]
        for step in steps:
            if step.name == name and (step.compensate is not None or not compensation):
                return
        where = f"workflow '{workflow_type}' has no" if workflow_type else "no workflow has a"
        what = "step with a compensate_function" if compensation else "step"
        known = sorted({s.name for s in steps})
        raise DefinitionError(
            f"{where} {what} named '{name}' (steps: {', '.join(known) or 'none'})",
            step=name,
            workflow_type=workflow_type,
        )


def _failure(wf: Workflow, error: WorkflowError, raised: tuple[str, Exception] | None) -> Exception:
    """The exception to raise for ``error``: the step's own when it came through the executor,
    else one from the engine's tree saying what the workflow recorded."""
    if raised is not None:
        step, exc = raised
        if step == error.step and type(exc).__name__ == error.type:
            return exc
    message = f"workflow '{wf.id}' is {wf.status.value}: step '{error.step}' failed: {error.type}"
    if error.type == StepResultError.__name__:
        return StepResultError(f"{message}: {error.message}", step=error.step)
    return StepError(f"{message}: {error.message}", step=error.step)


WorkflowTestHarness = TestHarness  # the name ruvon-sdk 0.1.5 used
