"""``DECISION``: run the step's function (if any), then take the first route whose condition
holds over the merged state.

Conditions are evaluated by the workflow's expression evaluator with ``state`` and every field
of the state as names (``state.amount > 10000`` and ``amount > 10000`` mean the same). A
``WorkflowJumpDirective`` raised by the function decides instead of the routes. No route
matching and no ``default`` fails the step, naming the conditions tried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ruvon.errors import StepResultError
from ruvon.models import WorkflowError
from ruvon.runtime.merge import merge_result
from ruvon.runtime.outcome import OutcomeKind, StepOutcome, Where
from ruvon.steps.base import run_function_step

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.definition.step_types import CompiledRoute
    from ruvon.providers.expression import ExpressionEvaluator
    from ruvon.workflow import Workflow


def evaluator(wf: Workflow) -> ExpressionEvaluator:
    if wf.expression_evaluator is None:  # the builder always gives one; a hand-made object may not
        raise StepResultError("this workflow has no expression evaluator to evaluate conditions")
    return wf.expression_evaluator


def condition_names(state: BaseModel) -> dict[str, Any]:
    """The names a condition sees: ``state``, and each field (and extra key) by its own name."""
    names: dict[str, Any] = dict(state.__dict__)
    if state.__pydantic_extra__:
        names.update(state.__pydantic_extra__)
    names["state"] = state
    return names


def choose_route(wf: Workflow, step: CompiledStep, state: BaseModel) -> CompiledRoute:
    """The first route whose condition is truthy (the default route always is)."""
    routes: tuple[CompiledRoute, ...] = step.compiled
    names = condition_names(state)
    for route in routes:
        if route.condition is None or evaluator(wf).evaluate(route.condition, names):
            return route
    tried = "; ".join(repr(r.condition) for r in routes)
    raise StepResultError(
        f"no route of DECISION step '{step.name}' matched and it has no default "
        f"(conditions tried, in order: {tried})",
        step=step.name,
    )


class DecisionStep:
    async def run(
        self,
        wf: Workflow,
        step: CompiledStep,
        user_input: dict[str, Any] | None,
        validated_input: Any,
        where: Where,
    ) -> StepOutcome:
        if step.function is not None:
            outcome = await run_function_step(wf, step, user_input, validated_input, where)
        else:
            started = wf.clock()
            outcome = StepOutcome(
                kind=OutcomeKind.COMPLETED,
                merged=merge_result(wf.state, None, step.name),
                started_at=started,
                ended_at=started,
            )
        if outcome.kind is not OutcomeKind.COMPLETED or not step.compiled:
            return outcome  # failed, or the function jumped or paused itself
        assert outcome.merged is not None
        try:
            route = choose_route(wf, step, outcome.merged.state)
        except Exception as exc:  # no route, or a condition that fails to evaluate
            # the failure is the attempt's that ran the function (a retried one: not attempt 1)
            return StepOutcome(
                kind=OutcomeKind.FAILED,
                error=WorkflowError.from_exception(exc, step.name),
                attempt=outcome.attempt,
                started_at=outcome.started_at,
                ended_at=wf.clock(),
            )
        outcome.kind, outcome.jump_to = OutcomeKind.JUMP, route.target
        outcome.ended_at = wf.clock()
        return outcome
