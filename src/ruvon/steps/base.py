"""The step-handler contract and the shared path of every step that calls a user function.

A handler is told to run a step once (with its retries) and says what happened as a
:class:`~ruvon.runtime.outcome.StepOutcome`. It does no bookkeeping: the runner validates the
input, sends ``STEP_STARTED``, records the deciding attempt and turns any exception a handler
raises into a failure of that step. Directives raised by user functions are translated here,
once, into outcome kinds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from ruvon.errors import StepResultError, WorkflowValidationError
from ruvon.models import (
    StartSubWorkflowDirective,
    WorkflowError,
    WorkflowJumpDirective,
    WorkflowPauseDirective,
)
from ruvon.runtime.attempts import CallResult, call_with_retries
from ruvon.runtime.merge import merge_result, storable
from ruvon.runtime.outcome import OutcomeKind, StepOutcome, Where
from ruvon.steps import subworkflow

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.workflow import Workflow


class StepHandler(Protocol):
    """How one step type runs. Its YAML model and load-time compile hook are declared in
    :mod:`ruvon.definition.step_types`; what that hook built is ``step.compiled``."""

    async def run(
        self,
        wf: Workflow,
        step: CompiledStep,
        user_input: dict[str, Any] | None,
        validated_input: Any,
        where: Where,
    ) -> StepOutcome:
        """Run the step once (with its retries) in ``where`` and say what happened.
        ``user_input`` is ``None`` when no input came for this step."""


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


def failed(step: CompiledStep, exc: BaseException, call: CallResult) -> StepOutcome:
    """The outcome of a step that failed with ``exc`` on the attempt ``call`` describes."""
    return StepOutcome(
        kind=OutcomeKind.FAILED,
        error=WorkflowError.from_exception(exc, step.name),
        attempt=call.attempt,
        started_at=call.started_at,
        ended_at=call.ended_at,
    )


def _directive(
    wf: Workflow, step: CompiledStep, call: CallResult
) -> tuple[OutcomeKind, Any, int | None, Any]:
    """The outcome kind a directive asks for, the result to merge, a jump target, and what a
    pause waits for."""
    directive = call.directive
    if isinstance(directive, WorkflowJumpDirective):
        target = step.names.get(directive.target_step_name)
        if target is None:
            raise StepResultError(
                f"step '{step.name}' jumped to unknown step '{directive.target_step_name}'",
                step=step.name,
            )
        return OutcomeKind.JUMP, directive.result, target, None
    if isinstance(directive, WorkflowPauseDirective):
        try:  # kept with the workflow while it waits
            waiting_for = storable(directive.waiting_for)
        except ValueError as exc:
            raise StepResultError(
                f"step '{step.name}' paused with a waiting_for that can not be stored as JSON: "
                f"{exc}",
                step=step.name,
            ) from exc
        return OutcomeKind.PAUSE, directive.result, None, waiting_for
    if isinstance(directive, StartSubWorkflowDirective):
        raise StepResultError(
            f"step '{step.name}' asked for sub-workflow '{directive.workflow_type}': only the "
            "function of a STANDARD, ASYNC, DECISION or HUMAN_IN_LOOP step can start one",
            step=step.name,
        )
    raise StepResultError(
        f"step '{step.name}' raised {type(directive).__name__}, which is not a directive "
        "this version of Ruvon knows",
        step=step.name,
    )


def outcome_of_call(wf: Workflow, step: CompiledStep, call: CallResult) -> StepOutcome:
    """Translate what the function did (returned, raised, signalled) into an outcome."""
    if call.error is not None:
        return failed(step, call.error, call)
    kind, value, jump_to, waiting_for = OutcomeKind.COMPLETED, call.value, None, None
    try:
        if call.directive is not None:
            kind, value, jump_to, waiting_for = _directive(wf, step, call)
        merged = merge_result(wf.state, value, step.name)
    except StepResultError as exc:
        return failed(step, exc, call)
    return StepOutcome(
        kind=kind,
        merged=merged,
        jump_to=jump_to,
        attempt=call.attempt,
        started_at=call.started_at,
        ended_at=call.ended_at,
        waiting_for=None if waiting_for is None else {"waiting_for": waiting_for},
    )


async def run_function_step(
    wf: Workflow,
    step: CompiledStep,
    user_input: dict[str, Any] | None,
    validated_input: Any,
    where: Where | None = None,
) -> StepOutcome:
    """Call ``step.function`` with retries, translate directives, merge the result. A step
    that started a child workflow (``StartSubWorkflowDirective``) waits for it; when it runs
    again while it waits (resumed, recovered), it goes on waiting without calling the function."""
    assert step.function is not None
    if wf.frames:
        waiting = await subworkflow.go_on_waiting(wf, step, where or Where(step.scope), user_input)
        if waiting is not None:
            return waiting
    call = await call_with_retries(
        wf, step, step.function, step.is_async, user_input or {}, validated_input, where=where
    )
    if type(call.directive) is StartSubWorkflowDirective:
        return await subworkflow.start_from_directive(wf, step, where or Where(step.scope), call)
    return outcome_of_call(wf, step, call)
