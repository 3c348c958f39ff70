"""``check_saga``: fail a workflow right after each compensatable step, and see what is undone.

For each top-level step that has a ``compensate_function`` (or, for a ``LOOP``, whose body has
one) the workflow runs once, in saga mode, in a copy
of its definition where the step that follows it fails before doing anything: its function is
replaced by one that raises :class:`InjectedFailure`, its ``input_model`` is dropped (the run
does not stop to wait for input it would not use), it runs as a ``STANDARD`` step and it is not
retried. When the step is the last one, the failure goes into a step added after it. Nothing
can fail a real run once its last step completed, so that run only shows what the last step's
compensation would undo if it ever ran (say, in a later version of the workflow that adds a step
after it).

Each run reports the journal of its unwind, its final status, and the state fields whose value
differs from the one they had when the workflow was created (fields in ``ignore`` aside).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import replace
from typing import Any

from ruvon.definition import CompiledStep, StepSpec, StepType, WorkflowDefinition
from ruvon.errors import StepError, WorkflowValidationError
from ruvon.models import CompensationRecord, StepContext, StepStatus
from ruvon.testing.driving import drive
from ruvon.testing.mocks import all_steps
from ruvon.testing.report import ABSENT, CompensationOutcome, FieldChange, SagaReport, SagaRun
from ruvon.workflow import Workflow

# the step added after the last one when the failure comes after the last step
END_STEP = "check_saga: after the last step"
# who approves compensations that need approval during a check
APPROVER = "check_saga"
# a retry_on entry no exception class matches (a bare name is compared with class names): the
# injected failure is not retried (nor, with compensate_on_failure, that step's compensation)
_NO_RETRY = ("check_saga: never retried",)

Start = Callable[[WorkflowDefinition], Awaitable[Workflow]]


class InjectedFailure(StepError):
    """The failure ``check_saga`` injects into a step."""


def _failing(after: str) -> Callable[..., Any]:
    def fail(state: Any, context: StepContext, **user_input: Any) -> Any:
        raise InjectedFailure(
            f"check_saga: failure injected after step '{after}'", step=context.step_name
        )

    return fail


def _failing_step(step: CompiledStep, after: str) -> CompiledStep:
    """``step`` made to fail at once, whatever its type, with no retry and no input."""
    return replace(
        step,
        spec=step.spec.model_copy(update={"type": StepType.STANDARD}),
        function=_failing(after),
        is_async=False,
        input_model=None,
        retry_on=_NO_RETRY,
        timeout_seconds=None,
        compiled=None,
    )


def inject_after(definition: WorkflowDefinition, index: int) -> WorkflowDefinition:
    """A copy of ``definition`` in which the failure comes right after step ``index``."""
    steps = list(definition.steps)
    after = steps[index].name
    if index + 1 < len(steps):
        steps[index + 1] = _failing_step(steps[index + 1], after)
        return replace(definition, steps=tuple(steps))
    last = steps[-1]
    changes: dict[str, Any] = {
        "index": len(steps),
        "name": END_STEP,
        "spec": StepSpec(name=END_STEP),
        "compensate": None,
        "compensate_is_async": False,
        "automate_next": False,
        "scope": "",  # computed again from the name
    }
    if hasattr(last, "position"):  # where the step sits in its list, in definitions that say
        changes["position"] = len(steps)
    end = _failing_step(replace(last, **changes), after)
    return replace(
        definition,
        steps=(*steps, end),
        index_by_name={**definition.index_by_name, END_STEP: len(steps)},
    )


def _outcome(entry: CompensationRecord) -> CompensationOutcome:
    error = entry.error
    return CompensationOutcome(
        step_name=entry.step_name,
        scope=entry.scope,
        function=entry.function,
        status=entry.status,
        attempts=entry.attempts,
        error=f"{error.type}: {error.message}" if error is not None else None,
        detail=entry.detail,
    )


def _unrestored(
    before: Mapping[str, Any], after: Mapping[str, Any], ignore: Collection[str]
) -> tuple[FieldChange, ...]:
    names = [*before, *(k for k in after if k not in before)]
    return tuple(
        FieldChange(field=name, before=before.get(name, ABSENT), after=after.get(name, ABSENT))
        for name in names
        if name not in ignore and before.get(name, ABSENT) != after.get(name, ABSENT)
    )


async def _run(
    definition: WorkflowDefinition,
    index: int,
    start: Start,
    inputs: Mapping[str, Mapping[str, Any]] | None,
    ignore: Collection[str],
) -> SagaRun:
    run_definition = inject_after(definition, index)
    wf = await start(run_definition)
    wf.enable_saga_mode()
    before = wf.state.model_dump(mode="json")
    status = await drive(wf, inputs, approver=APPROVER)
    after = definition.steps[index].name
    target = index + 1 if index + 1 < len(definition.steps) else None
    completed = any(r.step_name == after and r.status is StepStatus.COMPLETED for r in wf.history)
    return SagaRun(
        workflow_id=wf.id,
        failed_after=after,
        injected_in=definition.steps[target].name if target is not None else None,
        completed=completed,
        injected=completed and wf.error is not None and wf.error.type == InjectedFailure.__name__,
        failure=wf.error,
        status=status,
        compensations=tuple(
            _outcome(e) for e in wf.compensation_journal if e.step_name != END_STEP
        ),
        unrestored=_unrestored(before, wf.state.model_dump(mode="json"), ignore),
    )


def check_ignore(definition: WorkflowDefinition, ignore: Collection[str]) -> None:
    """A misspelled field in ``ignore`` would hide nothing and say nothing: refuse it."""
    model = definition.state_model
    if model.model_config.get("extra") == "allow":
        return
    unknown = sorted(set(ignore) - set(model.model_fields))
    if unknown:
        raise WorkflowValidationError(
            f"check_saga ignore names fields {model.__name__} does not have: "
            + ", ".join(repr(u) for u in unknown)
        )


async def check_saga(
    definition: WorkflowDefinition,
    start: Start,
    *,
    ignore: Collection[str] = (),
    inputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> SagaReport:
    """Run ``definition`` once per compensatable step (``start`` creates a workflow bound to the
    definition it is given) and report each run."""
    if isinstance(ignore, str):
        ignore = (ignore,)
    check_ignore(definition, ignore)
    runs = [
        await _run(definition, step.index, start, inputs, ignore)
        for step in definition.steps
        if any(s.compensate is not None for s in all_steps((step,)))
    ]
    return SagaReport(
        workflow_type=definition.workflow_type,
        workflow_version=definition.workflow_version,
        ignored=tuple(ignore),
        runs=tuple(runs),
    )
