"""``STANDARD``: call the step's function, merge what it returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ruvon.definition.schema import StepSpec
from ruvon.errors import DefinitionError
from ruvon.steps.base import run_function_step

if TYPE_CHECKING:
    from ruvon.definition.compile import CompiledStep, WorkflowDefinition
    from ruvon.runtime.outcome import StepOutcome
    from ruvon.workflow import Workflow


class StandardStep:
    """The plain step: ``function(state, context, **user_input) -> dict``."""

    spec_model = StepSpec

    def check(self, step: CompiledStep, definition: WorkflowDefinition) -> None:
        if step.function is None:
            raise DefinitionError("a STANDARD step needs a 'function'", key="function")

    async def run(
        self, wf: Workflow, step: CompiledStep, user_input: dict[str, Any]
    ) -> StepOutcome:
        return await run_function_step(wf, step, user_input)
