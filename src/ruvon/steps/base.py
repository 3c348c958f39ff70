"""The step-handler contract and the shared path of every step that calls a user function."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from ruvon.errors import StepResultError, WorkflowValidationError
from ruvon.models import (
    StartSubWorkflowDirective,
    StepStatus,
    WorkflowError,
    WorkflowJumpDirective,
    WorkflowPauseDirective,
)
from ruvon.providers.observer import EventKind
from ruvon.runtime.attempts import CallResult, call_with_retries
from ruvon.runtime.merge import merge_result
from ruvon.runtime.outcome import OutcomeKind, StepOutcome

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep, WorkflowDefinition
    from ruvon.definition.schema import StepSpec
    from ruvon.workflow import Workflow


class StepHandler(Protocol):
    """One step type: its YAML model, its load-time checks, and how it runs."""

    spec_model: type[StepSpec]

    def check(self, step: CompiledStep, definition: WorkflowDefinition) -> None:
        """Raise ``DefinitionError`` (with ``key``) if the step can not run as defined."""

    async def run(
        self, wf: Workflow, step: CompiledStep, user_input: dict[str, Any]
    ) -> StepOutcome:
        """Run the step once (with its retries) and say what happened."""


def validate_input(step: CompiledStep, user_input: dict[str, Any]) -> Any:
    """Validate ``user_input`` against the step's ``input_model``; bad input is the caller's."""
    if step.input_model is None:
        return None
    try:
        return step.input_model.model_validate(user_input)
    except ValidationError as exc:
        raise WorkflowValidationError.from_pydantic(
            f"input for step '{step.name}'", step.input_model, exc
        ) from exc


def _failed(wf: Workflow, step: CompiledStep, call: CallResult, exc: BaseException) -> StepOutcome:
    error = WorkflowError.from_exception(exc, step.name)
    wf.record_attempt(step, call, StepStatus.FAILED, None, error)
    return StepOutcome(OutcomeKind.FAILED, error=error)


async def run_function_step(
    wf: Workflow, step: CompiledStep, user_input: dict[str, Any]
) -> StepOutcome:
    """Call ``step.function`` with retries, translate directives, merge the result."""
    assert step.function is not None
    validated = None if step.input_model is None else validate_input(step, user_input)
    if wf.observer.wants(EventKind.STEP_STARTED):
        await wf.notify(EventKind.STEP_STARTED, step_name=step.name)
    kind, jump_to = OutcomeKind.COMPLETED, None
    try:
        call = await call_with_retries(
            wf, step, step.function, step.is_async, user_input, validated
        )
    except WorkflowJumpDirective as directive:
        call = CallResult(directive.result, None, 1, wf.clock(), wf.clock())
        target = wf.definition.index_by_name.get(directive.target_step_name)
        if target is None:
            exc = StepResultError(
                f"step '{step.name}' jumped to unknown step '{directive.target_step_name}'",
                step=step.name,
            )
            return _failed(wf, step, call, exc)
        kind, jump_to = OutcomeKind.JUMP, target
    except WorkflowPauseDirective as directive:
        call = CallResult(directive.result, None, 1, wf.clock(), wf.clock())
        kind = OutcomeKind.PAUSE
    except StartSubWorkflowDirective as directive:
        call = CallResult(None, None, 1, wf.clock(), wf.clock())
        exc = StepResultError(
            f"step '{step.name}' asked for sub-workflow '{directive.workflow_type}': sub-workflows "
            "are not supported by this version of Ruvon",
            step=step.name,
        )
        return _failed(wf, step, call, exc)
    if call.error is not None:
        return _failed(wf, step, call, call.error)
    try:
        state = merge_result(wf.state, call.value, step.name)
    except StepResultError as exc:
        return _failed(wf, step, call, exc)
    result = call.value if isinstance(call.value, dict) else None
    wf.record_attempt(step, call, StepStatus.COMPLETED, result)
    return StepOutcome(kind, state, result, None, jump_to)
