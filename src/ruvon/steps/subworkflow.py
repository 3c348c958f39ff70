"""``SUB_WORKFLOW`` and ``StartSubWorkflowDirective`` at run time: a child workflow as a step.

The step creates the child (idempotency key ``<parent id>:<scope>``, with ``#<n>`` after the
``n``-th failed attempt of the step, so a step run again after a crash finds the same child and
a ``retry()`` of the parent starts a new one), keeps its id in a frame ``{"kind": "child",
"scope": ..., "child_id": ...}`` and commits the parent ``PENDING_SUB_WORKFLOW``. It keeps the
parent's lease while its runner drives the child in the same process: if that runner dies, the
lease runs out and recovery continues the parent, whose step picks the child up where it is.
A child held by another live runner is waited for (polled) until it is free.

What the child ends in decides the step:

- ``COMPLETED``: the step completes; ``state.sub_workflow_results[<child id>]`` (when the state
  has that field, a dict) gets ``{workflow_type, status, state, final_result}``, and the step's
  own result always has ``sub_workflow_id``;
- it waits for a person (``WAITING_HUMAN``, ``PAUSED``, ``WAITING_CHILD_HUMAN_INPUT``,
  ``WAITING_COMPENSATION_APPROVAL``): the parent waits in ``WAITING_CHILD_HUMAN_INPUT``. Resuming
  the child (or the parent, whose input goes on down to the child that waits) moves the topmost
  waiting ancestor back to ``PENDING_SUB_WORKFLOW`` under the caller's lease first, then drives
  the whole chain from there;
- it failed (``FAILED``, ``FAILED_ROLLED_BACK``, ``COMPENSATION_FAILED``,
  ``FAILED_CHILD_WORKFLOW``): the step fails with :class:`~ruvon.errors.ChildWorkflowFailed`;
  the parent then unwinds (saga mode) or stops in ``FAILED_CHILD_WORKFLOW``;
- ``CANCELLED``: the parent is cancelled too.

A child started by a parent in saga mode runs in saga mode. When the parent unwinds, a completed
child is unwound as a whole (its own compensations, newest first, with its own children first)
before the parent's earlier steps: :func:`ruvon.steps.children.unwind_child`, which also holds
what a parent and a child do to each other outside this step (waking waiting ancestors, cancel
and retry across the link). The child's initial data: :mod:`ruvon.steps.child_data`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from ruvon.definition.subworkflow_spec import SubWorkflowSpec
from ruvon.errors import (
    ChildWorkflowCancelled,
    ChildWorkflowFailed,
    ConcurrentModificationError,
    StepResultError,
    UnknownWorkflowTypeError,
    WorkflowSetupError,
)
from ruvon.models import StartSubWorkflowDirective, StepStatus, WorkflowError
from ruvon.runtime.cursor import own_frame
from ruvon.runtime.merge import merge_result
from ruvon.runtime.outcome import OutcomeKind, StepOutcome, Where
from ruvon.status import WorkflowStatus as S
from ruvon.steps.child_data import initial_data

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.runtime.attempts import CallResult
    from ruvon.workflow import Workflow

CHILD = "child"
PARENT_KEY = "sub_workflow_of"
"""Metadata of a child its parent waits for: the parent's id."""
DEPTH_KEY = "sub_workflow_depth"
"""Metadata of a started workflow: how many levels below the first workflow it is."""
MAX_DEPTH = 32
"""How deep workflows may start workflows (each level is driven within its parent's call)."""
ROLLBACK_ERROR = "ParentRolledBack"
"""The error type a completed child is unwound with when its parent rolls back."""

_FAILED = frozenset(
    {S.FAILED, S.FAILED_ROLLED_BACK, S.COMPENSATION_FAILED, S.FAILED_CHILD_WORKFLOW}
)
_WAITS_FOR_PERSON = frozenset(
    {S.PAUSED, S.WAITING_HUMAN, S.WAITING_CHILD_HUMAN_INPUT, S.WAITING_COMPENSATION_APPROVAL}
)
# the child itself waits for a person (one below it may have gone on: it is asked again)
_ASKS_A_PERSON = _WAITS_FOR_PERSON - {S.WAITING_CHILD_HUMAN_INPUT}
# statuses in which the child is being run by someone: its lease must be ours to drive it
RUNNING = frozenset({S.ACTIVE, S.COMPENSATING, S.PENDING_SUB_WORKFLOW})
# a failed child its parent's retry() retries (see previous_child)
_RETRIED = frozenset({S.FAILED, S.FAILED_CHILD_WORKFLOW})
_POLL_FIRST, _POLL_MAX = 0.02, 1.0


# --- frames ------------------------------------------------------------------------------------


def child_frame(wf: Workflow, where: Where) -> dict[str, Any] | None:
    """The frame of the child the step at ``where`` waits for (``None``: it waits for none)."""
    frames = wf.frames
    if len(frames) > where.depth:
        frame = frames[where.depth]
        if frame.get("kind") == CHILD and frame.get("scope") == where.scope:
            return frame
    return None


def waited_child(wf: Workflow) -> str | None:
    """The id of the child a waiting workflow waits for (``None``: none)."""
    for frame in reversed(wf.frames):
        if frame.get("kind") == CHILD:
            return str(frame["child_id"])
    return None


def child_of_record(result: dict[str, Any] | None) -> str | None:
    """The child a step record says its step ran and waited for (``None``: none)."""
    if result and result.get("sub_workflow_waited"):
        child = result.get("sub_workflow_id")
        return child if isinstance(child, str) else None
    return None


# --- starting ----------------------------------------------------------------------------------


# a child that failed this way is retried by its parent's retry(); one that ended for good
# (rolled back, cancelled, its unwind failed) is replaced by a new one
_FINAL = frozenset({S.FAILED_ROLLED_BACK, S.CANCELLED, S.COMPENSATION_FAILED})


async def previous_child(wf: Workflow, where: Where) -> Workflow | None:
    """The child the last failed attempt of this step ran, if the step runs again after it
    (``retry()``) and that child can go on (``None``: start a new one)."""
    for record in reversed(wf.history):
        if record.scope != where.scope:
            continue
        child_id = child_of_record(record.result)
        if record.status is not StepStatus.FAILED or child_id is None:
            return None
        child = await load(wf, child_id)
        return None if child.status in _FINAL else child
    return None


def child_key(wf: Workflow, where: Where) -> str:
    """The child's idempotency key: the same for a step run again after a crash, a new one
    for each ``retry()`` after the step failed."""
    # committed attempts only: a retried attempt of this run is not in the store yet, and a
    # run again after a crash must find the same key
    committed = wf.history[: wf.committed_records]
    failed = sum(1 for r in committed if r.scope == where.scope and r.status is StepStatus.FAILED)
    key = f"{wf.id}:{where.scope}"
    return f"{key}#{failed}" if failed else key


async def create_child(
    wf: Workflow,
    step: CompiledStep,
    where: Where,
    workflow_type: str,
    data: dict[str, Any],
    *,
    version: str | None = None,
    wait: bool = True,
    metadata: dict[str, Any] | None = None,
    owner_id: str | None = None,
) -> Workflow:
    """Create the child (or find the one a run of this step before a crash created)."""
    if wf.builder is None:
        raise StepResultError(
            f"step '{step.name}' needs the workflow's builder to start a workflow",
            step=step.name,
        )
    depth = int(wf.metadata.get(DEPTH_KEY, 0)) + 1
    if depth > MAX_DEPTH:
        raise StepResultError(
            f"step '{step.name}' would start workflow '{workflow_type}' {depth} levels below "
            f"the first (the limit is {MAX_DEPTH}): does a workflow start itself without end?",
            step=step.name,
        )
    meta = {**(metadata or {}), "spawned_by": wf.id, "parent_step": where.scope}
    meta[DEPTH_KEY] = depth
    if wait:
        meta[PARENT_KEY] = wf.id
    child = await wf.builder.create_workflow(
        workflow_type,
        data,
        persistence_provider=wf.persistence,
        execution_provider=wf.executor,
        workflow_observer=wf.observer,
        idempotency_key=child_key(wf, where),
        workflow_version=version,
        owner_id=owner_id or wf.owner_id,
        parent_id=wf.id,
        metadata=meta,
    )
    if wait:
        inherit_saga_mode(wf, child)
    return child


def inherit_saga_mode(wf: Workflow, child: Workflow) -> None:
    """A saga parent's child runs in saga mode: switched on in memory while the child has not
    started (version 0), stored with its first commit. Also for a child found after a crash
    between the parent's commit and the child's first one (the store does not have it yet)."""
    if wf.saga_mode and not child.saga_mode and child.version == 0:
        child.enable_saga_mode()


# --- waiting -----------------------------------------------------------------------------------


async def load_related(wf: Workflow, workflow_id: str) -> Workflow:
    """A parent or child of ``wf`` as the store has it, with ``wf``'s builder and providers."""
    assert wf.builder is not None
    return await wf.builder.load_workflow(
        workflow_id,
        persistence_provider=wf.persistence,
        execution_provider=wf.executor,
        workflow_observer=wf.observer,
    )


async def load(wf: Workflow, child_id: str) -> Workflow:
    """The child as the store has it, driven by its parent ``wf``."""
    child = await load_related(wf, child_id)
    child.driven = True
    return child


async def take(wf: Workflow, child: Workflow, needs_lease: Collection[S]) -> Workflow:
    """The child with its lease held by us if its status is in ``needs_lease``; while another
    live runner holds it, wait (the parent's own lease is renewed meanwhile) and look again."""
    child.driven = True
    delay = _POLL_FIRST
    while True:
        if child.status not in needs_lease:
            return child
        try:
            await child.acquire()
            return child
        except ConcurrentModificationError:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)
            child = await load(wf, child.id)
            inherit_saga_mode(wf, child)


async def wait_for(
    wf: Workflow,
    step: CompiledStep,
    where: Where,
    child: Workflow,
    user_input: dict[str, Any] | None,
    started: float,
    attempt: int = 1,
) -> StepOutcome:
    """Commit the parent waiting for ``child``, drive the child to where it stops, and say
    what that means for the step. ``attempt``: the attempt of the step's function that started
    the child (kept in the frame: the step's record says it after a wait or a crash too)."""
    fresh = child_frame(wf, where) is None
    if not fresh and user_input is None and child.status in _ASKS_A_PERSON:
        return outcome(wf, step, where, child, started)  # still waits: no status change
    if fresh:
        more = {"attempt": attempt} if attempt > 1 else {}
        own_frame(wf, where.depth, CHILD, where.scope, child_id=child.id, **more)
    if fresh or wf.status is not S.PENDING_SUB_WORKFLOW:
        await wf.commit(
            S.PENDING_SUB_WORKFLOW, reason=f"step '{step.name}' waits for workflow {child.id}"
        )
    child = await take(wf, child, RUNNING | _RETRIED)
    if child.status in _RETRIED:  # the parent's retry(): the child goes on from its failure
        from ruvon.runtime import runner

        await runner.retry(child)
    elif child.status in _WAITS_FOR_PERSON and user_input is not None:
        await child.next_step(user_input)  # a parent's input goes on to the child that waits
    elif child.status in (S.PENDING_SUB_WORKFLOW, S.WAITING_CHILD_HUMAN_INPUT):
        await child.next_step()
    await child.run()
    return outcome(wf, step, where, child, started)


def outcome(
    wf: Workflow, step: CompiledStep, where: Where, child: Workflow, started: float
) -> StepOutcome:
    """What the status the child stopped in means for the step waiting for it."""
    status = child.status
    if status in _WAITS_FOR_PERSON:
        return StepOutcome(
            kind=OutcomeKind.WAIT_CHILD_INPUT, started_at=started, ended_at=wf.clock()
        )
    if status in RUNNING or status is S.PENDING_ASYNC:  # still runs somewhere: wait on
        return StepOutcome(kind=OutcomeKind.WAIT_CHILD, started_at=started, ended_at=wf.clock())
    frame = child_frame(wf, where)
    attempt = int(frame.get("attempt", 1)) if frame is not None else 1
    del wf.frames[where.depth :]
    if status is S.COMPLETED:
        try:
            return _completed(wf, step, child, started, attempt)
        except StepResultError as exc:  # its result does not fit: the step fails, and the
            return _failed(wf, step, child, exc, started, attempt)  # child is undone with it
    kind = ChildWorkflowCancelled if status is S.CANCELLED else ChildWorkflowFailed
    why = f": {child.error.type}: {child.error.message}" if child.error is not None else ""
    error = kind(
        f"child workflow {child.id} ({child.workflow_type}) ended {status.value}{why}",
        step=step.name,
        child_id=child.id,
        child_status=status.value,
    )
    return _failed(wf, step, child, error, started, attempt)


def child_result(child: Workflow) -> dict[str, Any]:
    """What the record of the step that waited for ``child`` keeps about it (the parent's
    unwind reads it: see :func:`needs_undo`)."""
    return {
        "sub_workflow_id": child.id,
        "sub_workflow_type": child.workflow_type,
        "sub_workflow_waited": True,
        "sub_workflow_status": child.status.value,
    }


def needs_undo(result: dict[str, Any] | None) -> bool:
    """A failed step's record whose child is not rolled back: the parent's unwind undoes the
    child even though the step failed (it completed and its result did not fit, or its own
    unwind left compensations failed)."""
    return (
        child_of_record(result) is not None
        and result is not None
        and result.get("sub_workflow_status") in (S.COMPLETED.value, S.COMPENSATION_FAILED.value)
    )


def _failed(
    wf: Workflow,
    step: CompiledStep,
    child: Workflow,
    error: BaseException,
    started: float,
    attempt: int,
) -> StepOutcome:
    merged = merge_result(wf.state, None, step.name)  # not applied: its record keeps the child
    merged.result = child_result(child)
    return StepOutcome(
        kind=OutcomeKind.FAILED,
        merged=merged,
        error=WorkflowError.from_exception(error, step.name),
        attempt=attempt,
        started_at=started,
        ended_at=wf.clock(),
    )


def _completed(
    wf: Workflow, step: CompiledStep, child: Workflow, started: float, attempt: int
) -> StepOutcome:
    entry = {
        "workflow_type": child.workflow_type,
        "status": child.status.value,
        "state": child.state.model_dump(mode="json"),
        "final_result": child.last_result,
    }
    result: dict[str, Any] = {}
    existing = getattr(wf.state, "sub_workflow_results", None)
    if isinstance(existing, dict):
        result["sub_workflow_results"] = {**existing, child.id: entry}
    merged = merge_result(wf.state, result, step.name)
    merged.result = {**(merged.result or {}), **child_result(child)}
    return StepOutcome(
        kind=OutcomeKind.COMPLETED,
        merged=merged,
        attempt=attempt,
        started_at=started,
        ended_at=wf.clock(),
    )


async def go_on_waiting(
    wf: Workflow, step: CompiledStep, where: Where, user_input: dict[str, Any] | None
) -> StepOutcome | None:
    """The step at ``where`` waits for a child already (its frame says which): go on waiting
    for it (``None``: it waits for none)."""
    frame = child_frame(wf, where)
    if frame is None:
        return None
    child = await load(wf, str(frame["child_id"]))
    inherit_saga_mode(wf, child)  # not started before a crash: not stored in saga mode yet
    return await wait_for(wf, step, where, child, user_input, wf.clock())


async def start_from_directive(
    wf: Workflow, step: CompiledStep, where: Where, call: CallResult
) -> StepOutcome:
    """A step function raised ``StartSubWorkflowDirective``: start the child and wait for it."""
    directive = call.directive
    assert isinstance(directive, StartSubWorkflowDirective)
    data = directive.initial_data
    if not isinstance(data, Mapping):
        raise StepResultError(
            f"step '{step.name}' raised StartSubWorkflowDirective for '{directive.workflow_type}' "
            f"with initial_data of type {type(data).__name__}; it must be a dict",
            step=step.name,
        )
    # the step has not completed: like a failed attempt's, the function's in-place changes to
    # the state are dropped (they would be committed while the child runs, and kept if it failed)
    wf.restore_state()
    extra = {"data_region": directive.data_region} if directive.data_region else {}
    child = await previous_child(wf, where) or await create_child(
        wf,
        step,
        where,
        directive.workflow_type,
        dict(data),
        metadata=extra,
        owner_id=directive.owner_id,
    )
    return await wait_for(wf, step, where, child, None, call.started_at, call.attempt)


class SubWorkflowStep:
    async def run(
        self,
        wf: Workflow,
        step: CompiledStep,
        user_input: dict[str, Any] | None,
        validated_input: Any,
        where: Where,
    ) -> StepOutcome:
        waiting = await go_on_waiting(wf, step, where, user_input)
        if waiting is not None:
            return waiting
        spec = step.spec
        assert isinstance(spec, SubWorkflowSpec)
        started = wf.clock()
        child = await previous_child(wf, where) if spec.wait else None
        if child is None:
            data = initial_data(wf, spec.initial_data_template, where)
            try:
                child = await create_child(
                    wf,
                    step,
                    where,
                    spec.workflow_type,
                    data,
                    version=spec.workflow_version,
                    wait=spec.wait,
                )
            except UnknownWorkflowTypeError as exc:  # checked at load: this process lacks it
                raise WorkflowSetupError(
                    f"workflow '{wf.id}' ({wf.workflow_type}), step '{step.name}': {exc}"
                ) from exc
        if spec.wait:
            return await wait_for(wf, step, where, child, None, started)
        from ruvon.steps.spawn import start_in_background

        await start_in_background(child)
        merged = merge_result(wf.state, {}, step.name)
        merged.result = {"sub_workflow_id": child.id, "sub_workflow_type": child.workflow_type}
        return StepOutcome(
            kind=OutcomeKind.COMPLETED, merged=merged, started_at=started, ended_at=wf.clock()
        )
