"""``FIRE_AND_FORGET`` and ``ASYNC`` at run time.

A FIRE_AND_FORGET step creates the target workflow (idempotency key ``<workflow id>:<scope>``,
so a step run again after a crash finds the same workflow instead of starting a second one),
takes its lease so that recovery continues it if this process dies, and starts it in the
background on the event loop. Its result is ``{"spawned_workflow_id": ..., "message": ...}``;
a state with a ``spawned_workflows`` list gets the id appended. The started workflow has this
one as ``parent_id`` and ``metadata.spawned_by``; it is never compensated by this one.

An ASYNC step runs its function through the execution provider like a STANDARD step: the
in-process executors (``SyncExecutor``, ``ThreadPoolExecutor``) complete it at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ruvon.definition.spawn_spec import FireAndForgetSpec
from ruvon.errors import StepResultError, UnknownWorkflowTypeError, WorkflowSetupError
from ruvon.runtime.merge import merge_result
from ruvon.runtime.outcome import OutcomeKind, StepOutcome, Where
from ruvon.steps.base import run_function_step
from ruvon.steps.child_data import initial_data

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.workflow import Workflow

log = logging.getLogger("ruvon.spawn")
_RUNNING: set[asyncio.Task[Any]] = set()  # a reference per started workflow until it stops


def running() -> set[asyncio.Task[Any]]:
    """The workflows this process started in the background and that still run (tests wait)."""
    return set(_RUNNING)


async def _run_in_background(child: Workflow) -> None:
    try:
        await child.run()
    except Exception:  # its own failure is its own business: it is recorded with it
        log.exception("background workflow %s raised", child.id)


async def start_in_background(child: Workflow) -> None:
    """Run a workflow just created (``version`` 0) on the event loop without waiting for it,
    holding its lease so that recovery continues it if this process dies."""
    if child.status == "ACTIVE" and child.version == 0:
        await child.acquire()
        task = asyncio.get_running_loop().create_task(_run_in_background(child))
        _RUNNING.add(task)
        task.add_done_callback(_RUNNING.discard)


class FireAndForgetStep:
    async def run(
        self,
        wf: Workflow,
        step: CompiledStep,
        user_input: dict[str, Any] | None,
        validated_input: Any,
        where: Where,
    ) -> StepOutcome:
        spec = step.spec
        assert isinstance(spec, FireAndForgetSpec)
        if wf.builder is None:
            raise StepResultError(
                f"step '{step.name}' needs the workflow's builder to start a workflow"
            )
        started = wf.clock()
        try:
            child = await wf.builder.create_workflow(
                spec.target_workflow_type,
                initial_data(wf, spec.initial_data_template),
                persistence_provider=wf.persistence,
                execution_provider=wf.executor,
                workflow_observer=wf.observer,
                idempotency_key=f"{wf.id}:{where.scope}",
                workflow_version=spec.target_workflow_version,
                owner_id=wf.owner_id,
                parent_id=wf.id,
                metadata={"spawned_by": wf.id, "spawn_reason": step.name},
            )
        except UnknownWorkflowTypeError as exc:  # checked at load: this process lacks it
            raise WorkflowSetupError(
                f"workflow '{wf.id}' ({wf.workflow_type}), step '{step.name}': {exc}"
            ) from exc
        await start_in_background(child)
        result: dict[str, Any] = {
            "spawned_workflow_id": child.id,
            "message": f"started {spec.target_workflow_type} workflow {child.id}",
        }
        spawned = getattr(wf.state, "spawned_workflows", None)
        if isinstance(spawned, list):
            result["spawned_workflows"] = [*spawned, child.id]
        merged = merge_result(wf.state, result, step.name)
        return StepOutcome(
            kind=OutcomeKind.COMPLETED, merged=merged, started_at=started, ended_at=wf.clock()
        )


class AsyncStep:
    # run by the execution provider like a STANDARD step (the in-process ones finish it now)
    run = staticmethod(run_function_step)
