"""``HUMAN_IN_LOOP``: a step that runs only with input from a person.

The runner stops the workflow in ``WAITING_HUMAN`` when it reaches such a step without input,
and validates the input against the step's ``input_model`` when it comes (bad input is the
caller's error and writes nothing). This handler then runs the step: its function with
``**user_input`` (the validated model in ``context.validated_input``), or, with no function,
merges the input into the state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ruvon.runtime.merge import merge_result
from ruvon.runtime.outcome import OutcomeKind, StepOutcome, Where
from ruvon.steps.base import run_function_step

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep
    from ruvon.workflow import Workflow


def input_as_result(user_input: dict[str, Any], validated_input: Any) -> dict[str, Any]:
    """What a function-less step merges: the validated input's fields, or the raw input."""
    if isinstance(validated_input, BaseModel):
        return validated_input.model_dump()
    return dict(user_input)


class HumanStep:
    async def run(
        self,
        wf: Workflow,
        step: CompiledStep,
        user_input: dict[str, Any] | None,
        validated_input: Any,
        where: Where,
    ) -> StepOutcome:
        if step.function is not None:
            return await run_function_step(wf, step, user_input, validated_input, where)
        started = wf.clock()
        result = input_as_result(user_input or {}, validated_input)
        merged = merge_result(wf.state, result or None, step.name)
        return StepOutcome(
            kind=OutcomeKind.COMPLETED, merged=merged, started_at=started, ended_at=wf.clock()
        )
